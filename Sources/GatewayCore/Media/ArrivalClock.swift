/// Times the frames of a stream that carries no timestamps (bare H.264, MJPEG) by when they
/// arrive — smoothed, because networks and demuxers deliver frames in bursts — and places them
/// on the stream's own frame grid (its nominal frame duration), one slot apart at least, so a
/// player sees a steady rate. When the camera runs faster than its nominal rate and the grid
/// falls half a second ahead of the clock, the grid is halved.
struct ArrivalClock: Sendable {
    private var grid: Int64
    private var slot: Int64 = 0
    private var interval: Double
    private var smoothed: Double = 0
    private var lastArrival: Int64?
    private let resync: Double
    private let tolerance: Int64

    /// `frame`: the stream's nominal frame duration; `second`: one second; both in its ticks.
    init(frame: Int64, second: Int64) {
        grid = max(1, frame)
        interval = Double(grid)
        resync = Double(second)
        tolerance = second / 2
    }

    /// The time of a frame that arrived at `arrival` (ticks since the session began).
    mutating func time(arrival: Int64) -> Int64 {
        guard let lastArrival else {
            lastArrival = arrival
            smoothed = Double(arrival)
            slot = (arrival + grid / 2) / grid
            return slot * grid
        }
        // The average spacing of arrivals is the camera's real frame rate, bursts or not.
        interval = 0.95 * interval + 0.05 * Double(max(0, arrival - lastArrival))
        self.lastArrival = arrival
        let predicted = smoothed + interval
        let error = Double(arrival) - predicted
        smoothed = abs(error) > resync ? Double(arrival) : predicted + min(max(error * 0.1, -0.25 * interval), 0.25 * interval)
        var next = Int64((smoothed / Double(grid)).rounded())
        if next <= slot { next = slot + 1 }
        if next * grid - arrival > tolerance, grid > 1 {
            // Faster than the nominal rate: finer slots, so the grid can catch up with the clock.
            grid /= 2
            slot *= 2
            next = max(Int64((smoothed / Double(grid)).rounded()), slot + 1)
        }
        slot = next
        return slot * grid
    }
}
