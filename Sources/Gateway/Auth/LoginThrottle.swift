import GatewayCore
/// Limits failed logins per username and per client address over a sliding window, so that
/// guessing passwords is slow whichever of the two an attacker varies.
public actor LoginThrottle {
    public struct Policy: Sendable {
        public var window: Double = 15 * 60
        public var perUsername = 5
        public var perAddress = 20
        /// Registrations (each costs a bcrypt hash) per client address per hour.
        public var registrationsPerHour = 10
        public init(registrationsPerHour: Int = 10) { self.registrationsPerHour = registrationsPerHour }
    }

    private let policy: Policy
    private var failuresByUsername: [String: [Double]] = [:]
    private var failuresByAddress: [String: [Double]] = [:]
    private var registrationsByAddress: [String: [Double]] = [:]

    public init(policy: Policy = Policy()) { self.policy = policy }

    /// Seconds until the next attempt is allowed, or nil if it may go ahead.
    public func retryAfter(username: String, address: String, now: Double = WallClock.now()) -> Double? {
        let byUser = recent(failuresByUsername[username.lowercased()], now: now)
        let byAddress = recent(failuresByAddress[address], now: now)
        var waits: [Double] = []
        if byUser.count >= policy.perUsername, let oldest = byUser.first { waits.append(oldest + policy.window - now) }
        if byAddress.count >= policy.perAddress, let oldest = byAddress.first { waits.append(oldest + policy.window - now) }
        return waits.max().map { max(1, $0.rounded(.up)) }
    }

    public func recordFailure(username: String, address: String, now: Double = WallClock.now()) {
        failuresByUsername[username.lowercased()] = recent(failuresByUsername[username.lowercased()], now: now) + [now]
        failuresByAddress[address] = recent(failuresByAddress[address], now: now) + [now]
    }

    /// Counts a registration from `address`; seconds to wait instead when it has had its share.
    public func admitRegistration(address: String, now: Double = WallClock.now()) -> Double? {
        let recent = (registrationsByAddress[address] ?? []).filter { $0 > now - 3600 }
        if recent.count >= policy.registrationsPerHour, let oldest = recent.first {
            registrationsByAddress[address] = recent
            return max(1, (oldest + 3600 - now).rounded(.up))
        }
        registrationsByAddress[address] = recent + [now]
        return nil
    }

    public func recordSuccess(username: String) {
        failuresByUsername[username.lowercased()] = nil
    }

    private func recent(_ times: [Double]?, now: Double) -> [Double] {
        (times ?? []).filter { $0 > now - policy.window }
    }
}
