"""Test support: headless Chromium (Debian's `chromium` and `chromium-driver` packages) driven by
Selenium, for the console's browser tests (tests/test_console.py).

`make install` installs the two packages when they are missing; `ensure_chromium()` does the same
when the tests are run without it (as root, with apt-get), so a fresh clone gets them either way.
Selenium is given the driver's path, so it never looks for or downloads a browser of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

PACKAGES = ("chromium", "chromium-driver")


def ensure_chromium() -> tuple[str, str]:
    """The paths of chromium and chromedriver, installed with apt-get if they are missing."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise RuntimeError(
            "The console's browser tests need Debian's chromium and chromium-driver packages: "
            "run `make install` (as root), or `apt-get install -y chromium chromium-driver`."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([apt, "update", "-qq"], check=True, env=env)
    subprocess.run([apt, "install", "-y", "-qq", *PACKAGES], check=True, env=env)
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert browser and driver, "apt-get installed chromium but its commands are not on PATH"
    return browser, driver


def start_chrome(downloads: Path, width: int = 1280, height: int = 1000) -> webdriver.Chrome:
    """A headless Chromium that saves downloads in `downloads` and keeps its console log."""
    browser, driver = ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--lang=en-US",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    chrome.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    return chrome
