//! The data and behaviour of `--demo`, on the fake API.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::faults::{Fault, FaultRule};
use super::model::{uuid_like, FakeAccount, FakeBot};
use super::sdk::FakeAppInstance;
use super::FakeChime;

/// The data and behaviour of `--demo`: a handful of accounts (one empty,
/// one with more than 99 bots so pagination runs), some disabled bots, a bot
/// toggled or replaced now and then so graphs move, and an occasional
/// throttled call so error panels have data; and, for the Chime SDK source,
/// one AppInstance with four Lex bots.
#[derive(Debug)]
pub struct Demo {
    pub fake: FakeChime,
    changer: JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.changer.abort();
    }
}

/// The demo's accounts: (name, bots, every n-th disabled).
const DEMO_ACCOUNTS: [(&str, usize, usize); 4] = [
    ("Engineering", 150, 9),
    ("Sales", 12, 4),
    ("Support", 0, 0),
    ("Marketing", 37, 5),
];

/// The shape of the demo data; the defaults are the small demo above, the
/// `--demo.*` flags make large ones for benchmarks.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Generated accounts of `bots_per_account` bots each, instead of the
    /// four named demo accounts.
    pub accounts: Option<usize>,
    pub bots_per_account: usize,
    /// Added to every API answer.
    pub latency: Duration,
    /// The share of calls answered with a 429.
    pub throttle_ratio: f64,
    /// How often a bot changes.
    pub change_every: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            accounts: None,
            bots_per_account: 100,
            latency: Duration::ZERO,
            throttle_ratio: 0.05,
            change_every: Duration::from_secs(15),
        }
    }
}

impl Demo {
    /// Starts the fake API with generated data and its background changes.
    pub async fn start(options: &DemoOptions) -> std::io::Result<Demo> {
        let fake = FakeChime::start().await?;
        fake.forget_calls();
        let mut rng = fastrand::Rng::with_seed(0x0c41_3e00);
        match options.accounts {
            None => {
                for (name, bots, disabled_every) in DEMO_ACCOUNTS {
                    let mut account = FakeAccount::new(&uuid_like(&mut rng), name)
                        .with_generated_bots(&mut rng, bots, disabled_every);
                    account.account_type = "EnterpriseLWA".to_owned();
                    fake.put_account(account);
                }
            }
            Some(n) => {
                for i in 0..n {
                    let name = format!("Account {i:05}");
                    let account = FakeAccount::new(&uuid_like(&mut rng), &name)
                        .with_generated_bots(&mut rng, options.bots_per_account, 9);
                    fake.put_account(account);
                }
            }
        }
        // The second source: a Chime SDK messaging AppInstance with a few
        // Lex bots (the demo watches every AppInstance it finds).
        fake.put_app_instance(
            FakeAppInstance::new(
                "us-east-1",
                "111122223333",
                &uuid_like(&mut rng),
                "Support Chat",
            )
            .with_bots("Support assistant", 4),
        );
        if !options.latency.is_zero() {
            fake.add_fault(FaultRule::new(Fault::Latency(options.latency)));
        }
        if options.throttle_ratio > 0.0 {
            fake.add_fault(FaultRule::new(Fault::Throttle).probability(options.throttle_ratio));
        }
        let change_every = options.change_every;
        let shared = std::sync::Arc::clone(&fake.shared);
        let changer = tokio::spawn(async move {
            let mut rng = fastrand::Rng::new();
            let mut tick = tokio::time::interval(change_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let mut store = shared.lock();
                demo_change(&mut store.accounts, &mut rng);
            }
        });
        Ok(Demo { fake, changer })
    }
}

/// One change to the demo data: usually a bot toggled, sometimes a bot
/// deleted and another created.
fn demo_change(accounts: &mut [FakeAccount], rng: &mut fastrand::Rng) {
    let candidates: Vec<usize> = (0..accounts.len())
        .filter(|&i| !accounts[i].bots.is_empty())
        .collect();
    let Some(&ai) = candidates.get(rng.usize(0..candidates.len().max(1))) else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let account = &mut accounts[ai];
    let bi = rng.usize(0..account.bots.len());
    if rng.u8(0..10) == 0 {
        account.bots.remove(bi);
        let name = format!("{} bot {}", account.name, rng.u32(1000..9999));
        let mut bot = FakeBot::generated(rng, &name, false);
        bot.created = now;
        bot.updated = now;
        account.bots.push(bot);
    } else {
        let bot = &mut account.bots[bi];
        bot.disabled = !bot.disabled;
        bot.updated = now;
    }
}
