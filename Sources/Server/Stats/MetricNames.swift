// MetricNames: every Prometheus metric dmfltd exposes, its name and help text in one place.
import Prometheus

/// MetricNameDescriptor is not Sendable, so descriptors are made on use rather than stored.
enum MetricNames {
    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "dmflt", metricName: metric, unitName: unit, helpText: help)
    }

    static var bios: MetricNameDescriptor { name("bios", "total", "Bios the attachment's filter saw, by operation.") }
    static var bytes: MetricNameDescriptor {
        name("bytes", "total", "Bytes the attachment's filter saw, by operation.")
    }
    static var skippedBios: MetricNameDescriptor {
        name("skipped_bios", "total", "Bios the attachment's filter completed without passing them on.")
    }
    static var attachmentInfo: MetricNameDescriptor {
        name(
            "attachment", "info", "One series per attachment with its device, filter and phase; the value is always 1.")
    }
    static var attachments: MetricNameDescriptor { name("attachments", "", "Attachments on this host by phase.") }
    static var ioctlAvailable: MetricNameDescriptor {
        name(
            "kernel_filter_ioctl", "available", "1 when this host's kernel answers the dm filter IOCTL, else 0.")
    }
    static var kernelIoctls: MetricNameDescriptor {
        name("kernel_ioctls", "total", "dm filter IOCTLs dmfltd issued, by operation.")
    }
    static var reconcileRuns: MetricNameDescriptor { name("reconcile_runs", "total", "Reconciliation passes run.") }
    static var reconcileErrors: MetricNameDescriptor {
        name("reconcile_errors", "total", "Errors met by reconciliation passes.")
    }
    static var httpRequests: MetricNameDescriptor {
        name("http_requests", "total", "HTTP requests answered, by method, route template and status code.")
    }
    static var httpDuration: MetricNameDescriptor {
        name(
            "http_request_duration", "seconds", "Time to answer an HTTP request (to the first byte for streams).")
    }
    static var dmLatency: MetricNameDescriptor {
        name(
            "dm_latency", "seconds", "IO completion latency from the attachment's dm-stats region (reads and writes).")
    }

    /// Every phase an attachment can be in, so dmflt_attachments always has the same series.
    static let phases = ["pending", "attached", "failed", "waiting-device", "detaching", "unmanaged"]
}
