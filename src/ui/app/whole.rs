//! Enter on a row whose cells the panel had to cut: the whole row, every
//! field uncut, in a popup.

use super::{App, Popup, lists};
use crate::report::fmt_age;
use crate::store::now_unix;
use crate::ui::keys::Panel;

fn clock(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(String::new, |t| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    })
}

impl App {
    pub(super) fn whole_row(&mut self) {
        let now = now_unix();
        let found = match self.focus {
            Panel::Outcomes => self
                .outcome_rows()
                .get(self.outcomes.selected().unwrap_or(0))
                .map(|o| {
                    (
                        format!("outcome {}", o.kind),
                        format!(
                            "kind      {}\nwindow    {}\n30 days   {}\never      {}",
                            o.kind, o.window, o.d30, o.all
                        ),
                    )
                }),
            Panel::Sessions => {
                let grace = self.snapshot.sessions.as_ref().map_or(0, |s| s.grace_secs);
                self.session_list()
                    .get(self.sessions.selected().unwrap_or(0))
                    .map(|r| {
                        let s = &r.session;
                        let claim = r.claim.as_ref().map_or_else(
                            || "—".into(),
                            |c| format!("{} (TTL left {})", c.owner, fmt_age(c.ttl_left(now))),
                        );
                        (
                            format!("session {}", s.name),
                            format!(
                                "name      {}\nid        {}\ncreated   {} ({} ago)\nactive    {} ({} ago)\nattached  {}\nagent     {}\nclaim     {claim}\ntask      {}\nverdict   {}",
                                s.name,
                                s.id,
                                clock(s.created),
                                fmt_age(now - s.created),
                                clock(s.activity),
                                fmt_age(now - s.activity),
                                s.attached,
                                if r.marker { "yes" } else { "no" },
                                r.task.as_deref().unwrap_or("—"),
                                r.reason_at(now, grace),
                            ),
                        )
                    })
            }
            Panel::Bridges => self
                .bridge_rows()
                .get(self.bridges.selected().unwrap_or(0))
                .map(|r| {
                    let h = &r.health;
                    (
                        format!("process {}", h.name),
                        format!(
                            "name        {}\nprocess     {:?}\nheartbeat   {}\nstamp       {}\ncurrent     {}\ntier        {}\nfailures    {} of {}\nlast action {}",
                            h.name,
                            h.liveness,
                            h.heartbeat_at
                                .map_or_else(|| "none".into(), |at| format!("{} ago", fmt_age(now - at))),
                            h.stamp.as_deref().unwrap_or("—"),
                            h.current.as_deref().unwrap_or("—"),
                            r.state.tier,
                            r.state.failures,
                            r.breaker_limit,
                            if r.state.last_action.is_empty() {
                                "—"
                            } else {
                                &r.state.last_action
                            },
                        ),
                    )
                }),
            Panel::Log => {
                let filter = self.inputs[lists::slot(Panel::Log)].text.clone();
                self.log
                    .selected(&self.snapshot.notices, &filter)
                    .or_else(|| {
                        self.snapshot
                            .notices
                            .iter()
                            .rev()
                            .find(|n| crate::ui::panels::log::matches(n, &filter))
                    })
                    .map(|n| {
                        (
                            format!("log {}", clock(n.at)),
                            format!(
                                "{}{}\n\n{}",
                                clock(n.at),
                                if n.error { "  error" } else { "" },
                                n.text
                            ),
                        )
                    })
            }
            _ => None,
        };
        if let Some((title, text)) = found {
            self.popup = Some(Popup::Detail {
                title: crate::text::printable(&title).into_owned(),
                text: crate::text::printable_lines(&text).into_owned(),
                scroll: 0,
            });
        }
    }
}
