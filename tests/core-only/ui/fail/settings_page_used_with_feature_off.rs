use plugin_routes::auth::SettingsPage;

fn main() {
    let _page = SettingsPage::new();
}
