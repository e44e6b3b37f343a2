// Reconciler: runs a reconcile pass at start and then every interval until cancelled.
import Foundation
import Logging

struct Reconciler: Sendable {
    let service: AttachmentService
    var interval: Duration = .seconds(10)
    var logger = Logger(label: "dmflt.reconcile")

    /// Loops until the task is cancelled; the first pass runs at once.
    func run() async {
        while !Task.isCancelled {
            await service.reconcileAll()
            try? await Task.sleep(for: interval)
        }
    }
}
