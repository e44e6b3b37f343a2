// Reconciler: runs a reconcile pass at start and then every interval until cancelled.
import Foundation

struct Reconciler: Sendable {
    let service: AttachmentService
    var interval: Duration = .seconds(10)
    /// Told each pass's count of kernel refusals (for /metrics).
    var passed: @Sendable (Int) -> Void = { _ in }

    /// Loops until the task is cancelled; the first pass runs at once.
    func run() async {
        while !Task.isCancelled {
            passed(await service.reconcileAll())
            try? await Task.sleep(for: interval)
        }
    }
}
