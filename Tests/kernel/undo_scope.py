"""UndoScope: what a test set up, undone last first when it ends, even when it fails (shared by the VM suites)."""


class UndoScope:
    def __init__(self):
        self.undo = []

    def later(self, fn):
        self.undo.append(fn)

    def close(self):
        while self.undo:
            try:
                self.undo.pop()()
            except Exception:  # cleanup is best effort; the test already reported
                pass
