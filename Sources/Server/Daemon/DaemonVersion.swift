// DaemonVersion: the version dmfltd reports (`dmfltd version`, GET /v1/host, GET /v1/hosts).
enum DaemonVersion {
    static let string = "0.1.0"
}
