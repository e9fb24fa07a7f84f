"""The app shell opens with no network once it has been opened online: the
service worker serves it from its cache and PouchDB still holds the forms."""

from __future__ import annotations

from playwright.sync_api import expect


def test_app_opens_offline_from_the_service_worker_cache(app_page):
    page = app_page
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.context.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-ready]")
    expect(page.locator("#net")).to_have_text("Không có mạng", use_inner_text=True)
    page.click("a[data-form=sample]")
    page.wait_for_selector("#f-address")
    page.fill("#f-address", "Số 5 ngõ 3")
    page.wait_for_selector("#save-state[data-state=saved]")
    page.reload()
    page.wait_for_selector("#f-address")
    expect(page.locator("#f-address")).to_have_value("Số 5 ngõ 3")
    page.context.set_offline(False)


def test_manifest_makes_the_app_installable(app_page):
    page = app_page
    manifest = page.evaluate(
        """async () => {
            const link = document.querySelector('link[rel=manifest]');
            return (await fetch(link.href)).json();
        }"""
    )
    assert manifest["start_url"] == "/app/"
    assert manifest["scope"] == "/app/"
    assert manifest["display"] == "standalone"
    assert {icon["sizes"] for icon in manifest["icons"]} == {"192x192", "512x512"}


def test_the_readme_address_without_a_slash_opens_offline(live_server, phone):
    """The README gives /app: once the app has been opened online, that very
    address opens it with no network, on the real server's headers."""
    page = phone.new_page()
    page.goto(f"{live_server.url}/app")
    page.wait_for_selector("body[data-ready]")
    # The worker claims the page it was installed from, if its scope covers it.
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    phone.set_offline(True)
    page.goto(f"{live_server.url}/app")
    page.wait_for_selector("body[data-ready]")
    expect(page.locator("input[name=username]")).to_be_visible()
    phone.set_offline(False)
