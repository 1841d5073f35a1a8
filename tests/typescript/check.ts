// Calls the items API through openapi-fetch with types generated from the committed document
// (openapi/plugins/items.json), the way a TypeScript front end would. It is only type-checked
// (`npm run check`): every `@ts-expect-error` line must be an error, or the check fails.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/items";

type Item = components["schemas"]["Item"];

const client = createClient<paths>({
  baseUrl: "http://127.0.0.1:8080",
  headers: { Authorization: "Bearer plk_..." },
});

/** One item, or why not, narrowed by the codes `GET /items/{id}` declares. */
export async function describeItem(id: number): Promise<string> {
  const { data, error } = await client.GET("/v1/plugins/items/items/{id}", {
    params: { path: { id } },
  });
  if (data) {
    const item: Item = data;
    return `${item.name} (${item.status})`;
  }
  switch (error.error.code) {
    case "ITEM_NOT_FOUND":
      return `no item ${id}`;
    case "INVALID_INPUT":
    case "UNAUTHORIZED":
    case "FORBIDDEN":
    case "RATE_LIMITED":
    case "INTERNAL":
    case "TIMEOUT":
      return error.error.message;
    case "UNAVAILABLE":
      return `${error.error.message} (Retry-After says when)`;
    // @ts-expect-error: `GET /items/{id}` does not declare ITEM_EXISTS (only creating and renaming do)
    case "ITEM_EXISTS":
      return "never";
  }
  // Every code the operation declares was handled above: nothing is left.
  const unhandled: never = error.error;
  return unhandled;
}

/** Creating one: `ITEM_EXISTS` is a declared code here. */
export async function create(name: string): Promise<Item | string> {
  const { data, error } = await client.POST("/v1/plugins/items/items", {
    body: { name, status: "active" },
  });
  if (error) {
    if (error.error.code === "ITEM_EXISTS") {
      return `${name} exists`;
    }
    // @ts-expect-error: ITEM_NOT_FOUND is not a code `POST /items` can answer
    if (error.error.code === "ITEM_NOT_FOUND") {
      return "never";
    }
    return error.error.message;
  }
  return data;
}

export async function mistakes(): Promise<void> {
  await client.POST("/v1/plugins/items/items", {
    // @ts-expect-error: `colour` is not a field of CreateItem
    body: { name: "lamp", status: "active", colour: "red" },
  });
  await client.POST("/v1/plugins/items/items", {
    // @ts-expect-error: `status` is `active` or `archived`
    body: { name: "lamp", status: "broken" },
  });
  await client.GET("/v1/plugins/items/items/{id}", {
    // @ts-expect-error: the id is a number
    params: { path: { id: "seven" } },
  });
  // @ts-expect-error: no such route
  await client.GET("/v1/plugins/items/widgets");
}
