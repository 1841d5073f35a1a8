use plugin_runtime::auth::SettingsPage;

fn main() {
    let _page = SettingsPage::new();
}
