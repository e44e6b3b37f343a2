"""suite_runner: runs a VM suite's tests in order, each in a fresh scope, printing ok/FAIL with the time taken."""
import sys
import time
import traceback


def run(tests, make_scope, left_behind=None):
    """Runs (name, fn) pairs, fn(scope); the scope is closed after each test. left_behind(), when
    given, names what a test leaked past its scope (a dm device, an attachment): that test fails,
    so a leak is blamed on its test and not on the suites after it. Returns (passed, failed)."""
    passed = failed = 0
    for name, fn in tests:
        s = make_scope()
        start = time.time()
        error = None
        try:
            fn(s)
        except Exception:
            error = traceback.format_exc().strip()
        finally:
            s.close()
        leak = left_behind() if left_behind else None
        if leak and not error:
            error = "left behind after its cleanup: %s" % leak
        if error:
            failed += 1
            print("FAIL %s (%.1fs)" % (name, time.time() - start))
            print("    " + error.replace("\n", "\n    "))
        else:
            passed += 1
            print("ok   %s (%.1fs)" % (name, time.time() - start))
        sys.stdout.flush()
    return passed, failed
