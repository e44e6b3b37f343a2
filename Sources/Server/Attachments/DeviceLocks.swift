// DeviceLocks: one at a time per block device, so kernel calls and their records never interleave for a device.
import Engine

actor DeviceLocks {
    private var held: Set<DeviceNumber> = []
    private var waiters: [DeviceNumber: [CheckedContinuation<Void, Never>]] = [:]

    func acquire(_ dev: DeviceNumber) async {
        if held.insert(dev).inserted { return }
        await withCheckedContinuation { waiters[dev, default: []].append($0) }
    }

    func release(_ dev: DeviceNumber) {
        // Hand the lock straight to the next waiter so no newcomer can overtake it.
        if var queue = waiters[dev], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[dev] = queue.isEmpty ? nil : queue
            next.resume()
        } else {
            held.remove(dev)
        }
    }

    /// Runs `body` holding the device's lock, on a kernel call thread: what it does (kernel calls and
    /// their records) may block for seconds and must hold up neither libmicrohttpd nor the task pool.
    nonisolated func with<T: Sendable, E: Error>(
        _ dev: DeviceNumber, on threads: KernelCallThreads = .changes, _ body: @escaping @Sendable () throws(E) -> T
    ) async throws(E) -> T {
        await acquire(dev)
        do {
            let result = try await threads.run(body)
            await release(dev)
            return result
        } catch {
            await release(dev)
            throw error
        }
    }
}
