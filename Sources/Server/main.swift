// dmfltd entry point: hands over to the command line at once (no top-level state lives here).
await DmfltdCommand.parseAndRun()
