// CountingFilterControl: the daemon's FilterControl with every IOCTL counted by operation, for dmflt_kernel_ioctls_total.
import Engine
import Foundation
import Prometheus

/// Wraps the one real control; counting happens before the call so failed IOCTLs count too.
struct CountingFilterControl: FilterControl {
    let inner: any FilterControl
    /// Attaches and detaches made through this control, for readers that keep what they read.
    let changes = KernelChanges()
    private let listTypesCount: Counter
    private let attachCount: Counter
    private let detachCount: Counter
    private let listCount: Counter
    private let statusCount: Counter
    private let messageCount: Counter
    private let queryCount: Counter

    init(_ inner: any FilterControl, registry: PrometheusCollectorRegistry) {
        self.inner = inner
        func counter(_ op: String) -> Counter {
            registry.makeCounter(descriptor: MetricNames.kernelIoctls, labels: [("op", op)])
        }
        listTypesCount = counter("list-types")
        attachCount = counter("attach")
        detachCount = counter("detach")
        listCount = counter("list")
        statusCount = counter("status")
        messageCount = counter("message")
        queryCount = counter("query")
    }

    func listTypes() throws(FilterControlError) -> [KernelFilterType] {
        listTypesCount.increment()
        return try inner.listTypes()
    }

    func attach(device: DeviceNumber, filter: String, options: String) throws(FilterControlError) {
        attachCount.increment()
        defer { changes.note() }
        try inner.attach(device: device, filter: filter, options: options)
    }

    func detach(device: DeviceNumber, filter: String) throws(FilterControlError) {
        detachCount.increment()
        defer { changes.note() }
        try inner.detach(device: device, filter: filter)
    }

    func listAttachments() throws(FilterControlError) -> [KernelAttachment] {
        listCount.increment()
        return try inner.listAttachments()
    }

    func status(device: DeviceNumber, filter: String) throws(FilterControlError) -> KernelAttachmentStatus {
        statusCount.increment()
        return try inner.status(device: device, filter: filter)
    }

    func message(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> String {
        messageCount.increment()
        return try inner.message(device: device, filter: filter, text: text)
    }

    func query(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> KernelQueryReply {
        queryCount.increment()
        return try inner.query(device: device, filter: filter, text: text)
    }
}
