#!/usr/bin/python3
"""Open an HTML report (csphub report --format html) in headless Chromium
(Debian's chromium, chromium-driver and python3-selenium), check that the
page logged no console error, that every indicator has a chart drawn as SVG
with its table under it, and that the footer names the log's seq and chain
link; save a screenshot of the whole page.

usage: report_html.py REPORT.html SCREENSHOT.png SEQ LINK INDICATORS
exit 0 when every check holds, 1 with the reason otherwise."""
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service


def main():
    page, shot, seq, link, count = sys.argv[1:6]
    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1123,1587"):  # A3 portrait at 96 dpi
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.get("file://" + os.path.abspath(page))
        problems = []
        errors = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
        if errors:
            problems.append("console errors: %r" % errors)
        cards = driver.find_elements("css selector", "section.card")
        if len(cards) != int(count):
            problems.append("%d indicator sections, want %s" % (len(cards), count))
        for c in cards:
            svg = c.find_elements("css selector", "svg.chart")
            if len(svg) != 1 or svg[0].size["height"] < 50:
                problems.append("section %s has no chart drawn" % c.get_attribute("id"))
            elif not c.find_elements("css selector", "svg.chart ~ table"):
                problems.append("section %s has no table under its chart" % c.get_attribute("id"))
        wide = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        if wide[0] > wide[1]:
            problems.append("the page is %d px wide in a %d px A3 window" % tuple(wide))
        bars = driver.find_elements("css selector", "svg.chart rect.bar")
        if not bars:
            problems.append("no bar drawn in any chart")
        footer = driver.find_element("id", "provenance").text
        if ("seq %s," % seq) not in footer or link not in footer:
            problems.append("the footer does not name seq %s and link %s: %r" % (seq, link, footer))
        # Printed as Chromium prints it on A3: one sheet.
        from selenium.webdriver.common.print_page_options import PrintOptions
        import base64, re
        po = PrintOptions()
        po.page_width = 29.7
        po.page_height = 42.0
        pdf = base64.b64decode(driver.print_page(po))
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        if pages != 1:
            problems.append("printed on A3 it takes %d pages, not 1" % pages)
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1123, max(1587, height + 40))
        driver.save_screenshot(shot)
        if problems:
            print("\n".join(problems))
            return 1
        print("ok: %d charts, %d bars, screenshot %s" % (len(cards), len(bars), shot))
        return 0
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
