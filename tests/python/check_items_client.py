"""A Python user's client, as openapi-python-client generates it from the committed items
document, against the running example server: create, read, 404, 409 and 400, an archived item
among them, each answer parsed into the generated type for its status.

CI generates the client into a scratch directory and runs, with that directory on the path:
    python3 tests/python/check_items_client.py http://127.0.0.1:PORT API_KEY
"""

import sys
import uuid

from items_client import AuthenticatedClient
from items_client.api.items import (
    items_create_item,
    items_get_item,
    items_list_items,
)
from items_client.models import CreateItem, Item, ItemPage, ItemStatus
from items_client.models.items_create_item_response_400 import ItemsCreateItemResponse400
from items_client.models.items_create_item_response_409 import ItemsCreateItemResponse409
from items_client.models.items_get_item_response_404 import ItemsGetItemResponse404

checks = []


def check(what, ok, got):
    checks.append((what, ok))
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + ("" if ok else f": got {got!r}"))


def main(base_url, key):
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)
    name = f"py-{uuid.uuid4().hex[:12]}"
    with client as c:
        # An archived item: the value the enum's parser once refused.
        made = items_create_item.sync(client=c, body=CreateItem(name=name, status=ItemStatus.ARCHIVED))
        check("create answers the item", isinstance(made, Item), made)
        check("its status parses as archived", getattr(made, "status", None) == ItemStatus.ARCHIVED, made)

        read = items_get_item.sync(made.id, client=c)
        check("read answers the same item", isinstance(read, Item) and read.name == name, read)

        page = items_list_items.sync(client=c, filter_=ItemStatus.ARCHIVED, limit=100)
        check("a list with an archived item parses", isinstance(page, ItemPage), page)
        names = [i.name for i in getattr(page, "items", [])]
        check("the list holds it", name in names, names)

        missing = items_get_item.sync(2_000_000_000, client=c)
        check("404 is its typed error", isinstance(missing, ItemsGetItemResponse404), missing)
        check("with code ITEM_NOT_FOUND", str(missing.error.code) == "ITEM_NOT_FOUND", missing)

        again = items_create_item.sync(client=c, body=CreateItem(name=name, status=ItemStatus.ACTIVE))
        check("409 is its typed error", isinstance(again, ItemsCreateItemResponse409), again)
        check("with code ITEM_EXISTS", str(again.error.code) == "ITEM_EXISTS", again)

        # A name the schema allows but the client sends as the server would refuse: too long.
        bad = items_create_item.sync(client=c, body=CreateItem(name="x" * 101, status=ItemStatus.ACTIVE))
        check("400 is its typed error", isinstance(bad, ItemsCreateItemResponse400), bad)
        check("with code INVALID_INPUT", str(bad.error.code) == "INVALID_INPUT", bad)

    failed = [w for w, ok in checks if not ok]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
