//! The "challenge" rule of upstream's connection manager (spec §3.3), as pure decisions.
//!
//! Only links dialled by the larger sid survive: a smaller sid dials merely to prompt the
//! larger one to dial back. Sids are Java longs on the wire, so they are compared as signed.

use zk_election::Sid;

/// What a dialler does with a connection to `remote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DialRole {
    /// We are the larger sid: open the stream that both directions will use.
    Link,
    /// We are the smaller sid: say hello so that the peer dials us back, then hang up.
    Poke,
}

/// What an acceptor does with a stream whose hello names `remote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptDecision {
    /// The remote sid is larger: this stream becomes the link (replacing any older one).
    Keep,
    /// The remote sid is smaller: close the stream, drop any existing link and dial back.
    DialBack,
    /// Close the stream without further action.
    Refuse(RefuseReason),
}

/// Why an incoming stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefuseReason {
    /// The sid is not in our configuration and gave no address to dial it back at.
    Stranger,
    /// The sid is our own (two servers share a `myid`: ZOOKEEPER-2164).
    SameSid,
}

impl RefuseReason {
    /// A human-readable reason, logged and sent back in the gRPC status.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            RefuseReason::Stranger => {
                "sid is not in this server's configuration and gave no usable address"
            }
            RefuseReason::SameSid => "sid equals this server's own sid (duplicate myid?)",
        }
    }
}

fn signed(sid: Sid) -> i64 {
    // Bit-pattern reinterpretation: sids are Java longs kept in a u64.
    sid as i64
}

/// The dialler's side of the rule.
pub(crate) fn dial_role(myid: Sid, remote: Sid) -> DialRole {
    if signed(remote) > signed(myid) {
        DialRole::Poke
    } else {
        DialRole::Link
    }
}

/// The acceptor's side of the rule; `known` says whether `remote` is a peer (configured, or
/// learned from its hello).
pub(crate) fn on_accept(myid: Sid, remote: Sid, known: bool) -> AcceptDecision {
    if remote == myid {
        AcceptDecision::Refuse(RefuseReason::SameSid)
    } else if !known {
        AcceptDecision::Refuse(RefuseReason::Stranger)
    } else if signed(remote) < signed(myid) {
        AcceptDecision::DialBack
    } else {
        AcceptDecision::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn larger_sid_links_and_smaller_sid_pokes() {
        assert_eq!(dial_role(3, 1), DialRole::Link);
        assert_eq!(dial_role(1, 3), DialRole::Poke);
    }

    #[test]
    fn acceptor_keeps_only_links_from_larger_sids() {
        assert_eq!(on_accept(1, 3, true), AcceptDecision::Keep);
        assert_eq!(on_accept(3, 1, true), AcceptDecision::DialBack);
        assert_eq!(
            on_accept(3, 9, false),
            AcceptDecision::Refuse(RefuseReason::Stranger)
        );
        assert_eq!(
            on_accept(3, 3, true),
            AcceptDecision::Refuse(RefuseReason::SameSid)
        );
    }

    #[test]
    fn dialler_and_acceptor_agree_on_every_pair() {
        let sids = [0, 1, 2, 7, u64::MAX, i64::MIN as u64];
        for &a in &sids {
            for &b in &sids {
                if a == b {
                    continue;
                }
                let kept = on_accept(b, a, true) == AcceptDecision::Keep;
                assert_eq!(dial_role(a, b) == DialRole::Link, kept, "{a} dials {b}");
            }
        }
    }

    #[test]
    fn sids_compare_as_signed_longs() {
        // u64::MAX is -1 as a Java long, smaller than 0.
        assert_eq!(dial_role(0, u64::MAX), DialRole::Link);
        assert_eq!(on_accept(0, u64::MAX, true), AcceptDecision::DialBack);
    }
}
