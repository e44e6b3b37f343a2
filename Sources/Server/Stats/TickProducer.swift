// TickProducer: what a hub sends each tick — one attachment's snapshot, or every attachment of the host.
import Engine
import Foundation

enum HubScope: Hashable, Sendable {
    case attachment(String)
    case host
}

enum TickOutcome: Sendable {
    case tick([UInt8])
    /// The stream is over (the attachment went away or stopped being attached).
    case end(reason: String)
}

/// Owned by one hub's sampling task; `previous` is that hub's last reading per attachment, so
/// each tick's rates cover exactly the hub's interval.
struct TickProducer: Sendable {
    let scope: HubScope
    let hostName: String
    let directory: any AttachmentDirectory
    let sampler: StatsSampler
    private var previous: [String: StatsSample] = [:]

    init(scope: HubScope, hostName: String, directory: any AttachmentDirectory, sampler: StatsSampler) {
        self.scope = scope
        self.hostName = hostName
        self.directory = directory
        self.sampler = sampler
    }

    mutating func tick() async -> TickOutcome {
        switch scope {
        case .attachment(let id):
            guard let target = await directory.attachment(id: id) else { return .end(reason: "detached") }
            guard target.isSampleable else { return .end(reason: target.phase) }
            switch await reading(target) {
            case .success(let snapshot):
                return .tick(Self.encode(snapshot))
            case .failure(let error) where error.kind == .notAttached || error.kind == .noSuchDevice:
                let now = await directory.attachment(id: id)
                return .end(reason: now.map { $0.isSampleable ? "not-attached" : $0.phase } ?? "detached")
            case .failure(let error):
                return .tick(Self.encode(SamplingFailure(target: target, error: error.description)))
            }
        case .host:
            let targets = await directory.all().filter(\.isSampleable)
            var items: [StatsSnapshot] = []
            var failures: [SamplingFailure] = []
            for t in targets {
                switch await reading(t) {
                case .success(let snapshot): items.append(snapshot)
                case .failure(let error) where error.kind == .notAttached || error.kind == .noSuchDevice: continue
                case .failure(let error): failures.append(SamplingFailure(target: t, error: error.description))
                }
            }
            let gone = Set(previous.keys).subtracting(targets.map(\.id))
            for id in gone { previous[id] = nil }
            return .tick(Self.encode(HostStatsTick(host: hostName, time: Date(), items: items, errors: failures)))
        }
    }

    /// Between ticks: whether the watched attachment still exists (detach ends streams promptly
    /// even when ticks are far apart).
    func stillThere() async -> Bool {
        guard case .attachment(let id) = scope else { return true }
        return await directory.attachment(id: id) != nil
    }

    private mutating func reading(_ target: StatsTarget) async -> Result<StatsSnapshot, FilterControlError> {
        // A new hub's first rates come from whatever reading came before (a GET, a scrape, another hub).
        let before = previous[target.id] ?? sampler.latestSample(target.id)
        do {
            let current = try await sampler.sample(target)
            previous[target.id] = current
            let usable = before.flatMap { (current.instant - $0.instant) >= .milliseconds(50) ? $0 : nil }
            return .success(StatsSnapshot(current: current, previous: usable))
        } catch {
            return .failure(error)
        }
    }

    static func encode(_ value: some Encodable) -> [UInt8] {
        (try? JSONCoding.encoder.encode(value)).map { Array($0) } ?? Array("{}".utf8)
    }
}

/// One host-wide tick: every attached attachment's snapshot.
struct HostStatsTick: Encodable, Sendable {
    var host: String
    var time: Date
    var items: [StatsSnapshot]
    var errors: [SamplingFailure]
}

/// A reading that failed for a reason other than the attachment going away.
struct SamplingFailure: Encodable, Sendable {
    var attachment: String
    var host: String
    var time: Date
    var error: String

    init(target: StatsTarget, error: String) {
        attachment = target.id
        host = target.host
        time = Date()
        self.error = error
    }
}
