"""Where caches and settings live: the platform's folders (platformdirs), overridable per variable."""

import subprocess
import sys


def folders(**env: str) -> list[str]:
    code = "from zslbench.core.paths import cache_dir, config_dir; print(cache_dir('features')); print(config_dir())"
    clean = {"PATH": "/usr/bin:/bin", "HOME": env.pop("HOME")}
    run = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True)
    return run.stdout.split()


def test_the_variables_win_then_xdg_then_home(tmp_path):
    home = str(tmp_path)
    if sys.platform.startswith("linux"):
        assert folders(HOME=home) == [f"{home}/.cache/zslbench/features", f"{home}/.config/zslbench"]
        assert folders(HOME=home, XDG_CACHE_HOME="/c", XDG_CONFIG_HOME="/s") == ["/c/zslbench/features", "/s/zslbench"]
    assert folders(HOME=home, ZSLBENCH_CACHE="/mine", ZSLBENCH_CONFIG="/conf") == ["/mine/features", "/conf"]
