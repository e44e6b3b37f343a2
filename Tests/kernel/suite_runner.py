"""suite_runner: runs a VM suite's tests in order, each in a fresh scope, printing ok/FAIL with the time taken."""
import sys
import time
import traceback


def run(tests, make_scope):
    """Runs (name, fn) pairs, fn(scope); the scope is closed after each test. Returns (passed, failed)."""
    passed = failed = 0
    for name, fn in tests:
        s = make_scope()
        start = time.time()
        try:
            fn(s)
        except Exception:
            failed += 1
            print("FAIL %s (%.1fs)" % (name, time.time() - start))
            print("    " + traceback.format_exc().strip().replace("\n", "\n    "))
        else:
            passed += 1
            print("ok   %s (%.1fs)" % (name, time.time() - start))
        finally:
            s.close()
        sys.stdout.flush()
    return passed, failed
