//! Four-letter words: admin commands sent as the first four bytes of a connection instead of
//! a ConnectRequest length (spec §1; admin-and-4lw.md §1.1).
//!
//! The server compares those four bytes with this list **before** checking the frame length,
//! and only while the connection has no session.

/// A known four-letter word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FourLetterWord {
    Conf,
    Cons,
    Crst,
    Dirs,
    Dump,
    Envi,
    Gtmk,
    Hash,
    Isro,
    Mntr,
    Ruok,
    Srst,
    Srvr,
    Stat,
    Stmk,
    Wchc,
    Wchp,
    Wchs,
    /// `FF F4 FF FD`, what telnet sends when it closes; known only to be answered quietly.
    TelnetClose,
}

impl FourLetterWord {
    /// Every known word.
    pub const ALL: &'static [FourLetterWord] = &[
        FourLetterWord::Conf,
        FourLetterWord::Cons,
        FourLetterWord::Crst,
        FourLetterWord::Dirs,
        FourLetterWord::Dump,
        FourLetterWord::Envi,
        FourLetterWord::Gtmk,
        FourLetterWord::Hash,
        FourLetterWord::Isro,
        FourLetterWord::Mntr,
        FourLetterWord::Ruok,
        FourLetterWord::Srst,
        FourLetterWord::Srvr,
        FourLetterWord::Stat,
        FourLetterWord::Stmk,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Wchs,
        FourLetterWord::TelnetClose,
    ];

    /// The four bytes on the wire.
    pub const fn bytes(self) -> [u8; 4] {
        match self {
            FourLetterWord::Conf => *b"conf",
            FourLetterWord::Cons => *b"cons",
            FourLetterWord::Crst => *b"crst",
            FourLetterWord::Dirs => *b"dirs",
            FourLetterWord::Dump => *b"dump",
            FourLetterWord::Envi => *b"envi",
            FourLetterWord::Gtmk => *b"gtmk",
            FourLetterWord::Hash => *b"hash",
            FourLetterWord::Isro => *b"isro",
            FourLetterWord::Mntr => *b"mntr",
            FourLetterWord::Ruok => *b"ruok",
            FourLetterWord::Srst => *b"srst",
            FourLetterWord::Srvr => *b"srvr",
            FourLetterWord::Stat => *b"stat",
            FourLetterWord::Stmk => *b"stmk",
            FourLetterWord::Wchc => *b"wchc",
            FourLetterWord::Wchp => *b"wchp",
            FourLetterWord::Wchs => *b"wchs",
            FourLetterWord::TelnetClose => [0xff, 0xf4, 0xff, 0xfd],
        }
    }

    /// The name used in whitelists and in the "not executed" message.
    pub const fn name(self) -> &'static str {
        match self {
            FourLetterWord::Conf => "conf",
            FourLetterWord::Cons => "cons",
            FourLetterWord::Crst => "crst",
            FourLetterWord::Dirs => "dirs",
            FourLetterWord::Dump => "dump",
            FourLetterWord::Envi => "envi",
            FourLetterWord::Gtmk => "gtmk",
            FourLetterWord::Hash => "hash",
            FourLetterWord::Isro => "isro",
            FourLetterWord::Mntr => "mntr",
            FourLetterWord::Ruok => "ruok",
            FourLetterWord::Srst => "srst",
            FourLetterWord::Srvr => "srvr",
            FourLetterWord::Stat => "stat",
            FourLetterWord::Stmk => "stmk",
            FourLetterWord::Wchc => "wchc",
            FourLetterWord::Wchp => "wchp",
            FourLetterWord::Wchs => "wchs",
            FourLetterWord::TelnetClose => "telnet close",
        }
    }

    /// The four bytes read as the big-endian int the Java server compares.
    pub const fn code(self) -> i32 {
        i32::from_be_bytes(self.bytes())
    }

    /// The word that a connection's first four bytes spell, if any. `None` also when fewer
    /// than four bytes are given; the caller then waits for more (or treats them as a length).
    pub fn from_first_four(first: &[u8]) -> Option<Self> {
        let word = first.get(..4)?;
        Self::ALL
            .iter()
            .copied()
            .find(|candidate| candidate.bytes() == word)
    }

    /// The word by name (as in `4lw.commands.whitelist`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|candidate| candidate.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_spec_table() {
        assert_eq!(FourLetterWord::Ruok.code(), 0x72756f6b);
        assert_eq!(FourLetterWord::Srvr.code(), 0x73727672);
        assert_eq!(FourLetterWord::Mntr.code(), 0x6d6e7472);
        assert_eq!(FourLetterWord::Conf.code(), 0x636f6e66);
        assert_eq!(FourLetterWord::TelnetClose.code() as u32, 0xfff4fffd);
    }

    #[test]
    fn recognises_each_word_and_ignores_what_follows() {
        for &word in FourLetterWord::ALL {
            let mut input = word.bytes().to_vec();
            input.push(b'\n');
            assert_eq!(FourLetterWord::from_first_four(&input), Some(word));
            assert_eq!(FourLetterWord::from_name(word.name()), Some(word));
        }
    }

    #[test]
    fn other_bytes_are_not_words() {
        assert_eq!(FourLetterWord::from_first_four(b"xxxx"), None);
        assert_eq!(FourLetterWord::from_first_four(b"ruo"), None);
        assert_eq!(FourLetterWord::from_first_four(b"RUOK"), None);
        assert_eq!(FourLetterWord::from_first_four(&[0, 0, 0, 0x2d]), None);
        assert_eq!(FourLetterWord::from_name("nope"), None);
    }
}
