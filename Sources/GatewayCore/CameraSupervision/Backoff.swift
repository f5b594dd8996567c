import Foundation

/// Exponential backoff with jitter: `initial · multiplier^attempt`, capped at `maximum`, each
/// delay spread by ±`jitter` so cameras that fail together do not retry together.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double
    /// Fraction of the delay to spread by, 0...1.
    public var jitter: Double
    public private(set) var attempt = 0

    public init(initial: Duration = .seconds(1), maximum: Duration = .seconds(30), multiplier: Double = 2, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The delay before the next attempt; advances the attempt count.
    public mutating func nextDelay(using random: inout some RandomNumberGenerator) -> Duration {
        let base = min(initial.seconds * pow(multiplier, Double(min(attempt, 64))), maximum.seconds)
        attempt += 1
        let spread = jitter > 0 ? Double.random(in: -jitter...jitter, using: &random) : 0
        return .milliseconds(Int64((base * (1 + spread) * 1000).rounded()))
    }

    public mutating func reset() { attempt = 0 }
}

extension Duration {
    public var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
