"""Open an emma HTML report in headless Chromium (selenium + chromedriver) and check it as a reader
would: the console log has no errors, every plot is an SVG with content and a size, clicking a column
header sorts its rows, the group filter hides the other groups' rows; then save a screenshot.

Run by tests/test_report_browser.py inside a private network namespace (chromedriver and Chromium's
DevTools listen on loopback ports, which no other process can then reach):
    python tests/browser_check.py REPORT.html SCREENSHOT.png RESULT.json [--table CSS] [--shot-at CSS] [--size W,H]
`--table`: the table whose sorting and filtering is tried (default: the first per-task one);
`--shot-at`: the element scrolled to the top before the screenshot (default: the page's top); `--size W,H`: the window.
RESULT.json holds what was seen; the test asserts on it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


def browser(size: str = "1280,900") -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={size}", "--hide-scrollbars"):
        options.add_argument(arg)
    options.binary_location = os.environ.get("EMMA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = os.environ.get("EMMA_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def column(driver, table, i: int) -> list[str]:
    return driver.execute_script(
        "return Array.from(arguments[0].tBodies[0].rows).filter(r => !r.hidden).map(r => r.children[arguments[1]].dataset.v);", table, i
    )


def main(report: str, shot: str, result: str, table_css: str = "section table.sortable", shot_at: str | None = None, size: str = "1280,900") -> None:
    seen: dict = {}
    driver = browser(size)
    try:
        driver.get(Path(report).resolve().as_uri())
        seen["title"] = driver.title
        seen["svgs"] = driver.execute_script(
            "return Array.from(document.querySelectorAll('.plot svg')).map(s => {"
            "const b = s.getBoundingClientRect();"
            "return {children: s.querySelectorAll('path, rect, text, use, line, polyline').length, width: b.width, height: b.height};});"
        )
        # sorting: the first per-task table, by the first model's column (numbers), then again (reversed)
        table = driver.find_element(By.CSS_SELECTOR, table_css)
        section = table.find_element(By.XPATH, "./ancestor::section")
        headers = table.find_elements(By.CSS_SELECTOR, "thead th")
        seen["headers"] = [h.text for h in headers]
        col = 5  # language, name, group, script, n, then the models
        before = column(driver, table, col)
        headers[col].click()
        asc = column(driver, table, col)
        headers[col].click()
        desc = column(driver, table, col)
        headers[0].click()
        by_language = column(driver, table, 0)
        seen["sort"] = {"before": before, "asc": asc, "desc": desc, "by_language": by_language, "aria": headers[0].get_attribute("aria-sort")}
        # filtering by group: only that group's rows stay visible
        form = section.find_element(By.CSS_SELECTOR, "form.filters")
        select = Select(form.find_element(By.NAME, "group"))
        options = [o.get_attribute("value") for o in select.options if o.get_attribute("value")]
        seen["filter_groups"] = options
        if options:
            select.select_by_value(options[-1])
            seen["filtered"] = driver.execute_script(
                "return Array.from(arguments[0].tBodies[0].rows).filter(r => !r.hidden).map(r => r.dataset.group);", table
            )
            seen["shown_text"] = form.find_element(By.CSS_SELECTOR, ".shown").text
            select.select_by_value("")
        seen["console"] = [{"level": e.get("level"), "message": e.get("message")} for e in driver.get_log("browser")]
        if shot_at:
            driver.execute_script("arguments[0].scrollIntoView(true)", driver.find_element(By.CSS_SELECTOR, shot_at))
        else:
            driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(shot)
    finally:
        driver.quit()
    Path(result).write_text(json.dumps(seen, indent=1), encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("report", "shot", "result"):
        parser.add_argument(name)
    parser.add_argument("--table", default="section table.sortable")
    parser.add_argument("--shot-at", default=None)
    parser.add_argument("--size", default="1280,900", help="window width,height in pixels")
    a = parser.parse_args()
    main(a.report, a.shot, a.result, a.table, a.shot_at, a.size)
