// JournalPriorityTests: under journald each log line starts with its syslog priority, and journald is recognised only by its stream.
import Foundation
import Logging
import Testing

@testable import dmfltd

@Suite struct JournalPriorityTests {
    @Test func levelsMapToSyslogPriorities() {
        let expected: [(Logger.Level, Int)] = [
            (.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
        ]
        for (level, priority) in expected {
            #expect(level.syslogPriority == priority, "\(level)")
            #expect(level.syslogPrefix == "<\(priority)>")
        }
    }

    @Test func linesCarryThePrefixOnlyWhenAsked() throws {
        let file = TemporaryLogFile()
        var plain = DaemonLogHandler(label: "dmflt.test", writer: file.writer)
        plain.logLevel = .debug
        var journal = DaemonLogHandler(label: "dmflt.test", writer: file.writer, syslogPrefix: true)
        journal.logLevel = .debug
        Logger(label: "dmflt.test", factory: { _ in plain }).error("plain")
        let logger = Logger(label: "dmflt.test", factory: { _ in journal })
        logger.error("broken")
        logger.warning("odd")
        logger.info("fine")
        logger.debug("detail")
        let lines = try file.text().split(separator: "\n").map(String.init)
        #expect(lines.count == 5)
        #expect(lines[0].first?.isNumber == true && lines[0].hasSuffix("] plain"), "\(lines[0])")
        #expect(lines[1].hasPrefix("<3>") && lines[1].contains(" error dmflt.test:"), "\(lines[1])")
        #expect(lines[2].hasPrefix("<4>") && lines[2].hasSuffix("] odd"))
        #expect(lines[3].hasPrefix("<6>") && lines[3].hasSuffix("] fine"))
        #expect(lines[4].hasPrefix("<7>") && lines[4].hasSuffix("] detail"))
    }

    @Test func journalStreamMustNameTheDescriptor() throws {
        let file = TemporaryLogFile()
        var info = stat()
        #expect(fstat(file.descriptor, &info) == 0)
        let mine = "\(info.st_dev):\(info.st_ino)"
        #expect(JournalStream.isJournal(file.descriptor, environment: mine))
        // Inherited from a parent whose stream this is not (stderr redirected to a file or a pipe).
        #expect(!JournalStream.isJournal(file.descriptor, environment: "\(info.st_dev):\(info.st_ino + 1)"))
        #expect(!JournalStream.isJournal(file.descriptor, environment: nil))
        for garbage in ["", "1", "1:", ":2", "a:b", "1:2:3", " 1:2"] {
            #expect(JournalStream.identity(garbage) == nil, "\(garbage.debugDescription)")
        }
        #expect(JournalStream.identity("64769:12345")! == (64769, 12345))
        #expect(!JournalStream.isJournal(-1, environment: mine))
    }
}
