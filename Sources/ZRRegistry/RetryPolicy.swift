/// When and how long to wait before repeating a request: on 429 and the 5xx statuses a proxy
/// or an overloaded registry sends, and on connection failures. Exponential backoff with a
/// cap; a `Retry-After` in seconds (RFC 9110 §10.2.3) is honoured up to the cap.
public struct RetryPolicy: Sendable, Equatable {
    /// Total tries, the first included.
    public var maxAttempts: Int
    /// The wait before the second try; doubled for each further one.
    public var baseDelayMilliseconds: Int
    /// No wait is longer than this.
    public var maxDelayMilliseconds: Int

    public init(maxAttempts: Int = 5, baseDelayMilliseconds: Int = 250, maxDelayMilliseconds: Int = 8_000) {
        self.maxAttempts = maxAttempts
        self.baseDelayMilliseconds = baseDelayMilliseconds
        self.maxDelayMilliseconds = maxDelayMilliseconds
    }

    /// Whether a response with `status` is worth repeating: 408, 429, 500, 502, 503, 504.
    /// Other 4xx are the client's fault and would fail again.
    public func isRetryable(status: Int) -> Bool {
        [408, 429, 500, 502, 503, 504].contains(status)
    }

    /// Whether try number `attempt` (1-based) may be followed by another.
    public func allowsRetry(after attempt: Int) -> Bool { attempt < maxAttempts }

    /// How long to wait after failed try number `attempt` (1-based), in milliseconds.
    public func delayMilliseconds(after attempt: Int, retryAfter: String? = nil) -> Int {
        if let retryAfter, let seconds = Int(retryAfter.trimmingASCIISpaces()), seconds >= 0 {
            return min(seconds * 1000, maxDelayMilliseconds)
        }
        let shift = min(max(attempt - 1, 0), 20)
        return min(baseDelayMilliseconds << shift, maxDelayMilliseconds)
    }
}

extension String {
    func trimmingASCIISpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
