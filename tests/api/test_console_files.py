"""The console's files at /ui/, and / sending browsers there (the browser tests drive the
console itself; these say what any HTTP client sees)."""


def test_the_root_and_ui_redirect_to_the_console_with_a_relative_location(client):
    for path in ("/", "/ui"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 307 and response.headers["location"] == "/ui/"


def test_the_console_page_and_its_modules_are_served_kept_to_their_own_origin(client):
    page = client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    module = client.get("/ui/js/app.js")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    assert client.get("/ui/no-such-file.js").status_code == 404
