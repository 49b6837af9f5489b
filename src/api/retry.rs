//! How the SDK retries: the attempts per operation and the retry quota.

/// How many attempts the SDK's standard retry strategy makes per operation
/// (the first try included), all inside `--chime.timeout`.
pub const MAX_ATTEMPTS: u32 = 3;

/// The retry quota of one target, sized from the rate limit: a minute of
/// back-to-back retries at `--chime.rate-limit`, at the SDK's highest cost
/// per retry (14 tokens), and never less than the SDK's default (500).
///
/// The SDK's standard retry mode takes a token per retry from a bucket
/// shared by every client of the process with the same partition, refilled
/// only by successes; a throttle storm over many accounts empties the
/// default bucket in seconds, and then the SDK stops retrying 429 and 5xx
/// without a word. Here the limits (`super::ApiLimits`) already bound every
/// request, retries included, so the quota only has to outlast a storm;
/// each target has its own (a storm in one AWS account does not stop
/// another's retries), and `chime_api_retries_exhausted_total` counts the
/// operations that gave up for want of it.
pub fn retry_quota(rate_limit: f64) -> usize {
    const COST: f64 = 14.0;
    let minute = (rate_limit.max(0.0) * 60.0 * COST).ceil();
    if minute.is_finite() && minute > 500.0 {
        (minute as usize).min(aws_smithy_runtime::client::retries::MAXIMUM_CAPACITY)
    } else {
        500
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_is_a_minute_of_retries_at_the_rate_and_never_below_the_sdk_default() {
        assert_eq!(retry_quota(10.0), 8400);
        assert_eq!(retry_quota(0.01), 500);
        assert_eq!(retry_quota(0.5), 500);
        assert!(retry_quota(1e12) <= aws_smithy_runtime::client::retries::MAXIMUM_CAPACITY);
    }
}
