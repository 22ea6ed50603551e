//! The protocol's numbered constants: opcodes, error codes, event types, states, modes, xids.
//!
//! Records keep these as raw `i32` (so that any received value round-trips); the enums here
//! give them names and check them.

use crate::error::DecodeError;

/// xid of a watch notification (server to client).
pub const NOTIFICATION_XID: i32 = -1;
/// xid of a ping and its reply.
pub const PING_XID: i32 = -2;
/// xid clients use for auth packets; the reply echoes the request's xid.
pub const AUTH_XID: i32 = -4;
/// xid of setWatches/setWatches2 and their replies.
pub const SET_WATCHES_XID: i32 = -8;

/// Declares a `#[repr(i32)]` enum with its wire numbers, `TryFrom<i32>`, `as_i32`/`code`,
/// `From<Enum> for i32` and the list of all values.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($unknown:expr) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$( $name::$variant, )*];

            /// The number on the wire.
            pub const fn as_i32(self) -> i32 {
                self as i32
            }

            /// The number on the wire (same as [`Self::as_i32`]).
            pub const fn code(self) -> i32 {
                self as i32
            }
        }

        impl TryFrom<i32> for $name {
            type Error = DecodeError;
            fn try_from(value: i32) -> Result<Self, DecodeError> {
                match value {
                    $( $value => Ok($name::$variant), )*
                    other => Err($unknown(other)),
                }
            }
        }

        impl From<$name> for i32 {
            fn from(value: $name) -> i32 {
                value as i32
            }
        }
    };
}

fn unknown(kind: &'static str) -> impl Fn(i32) -> DecodeError {
    move |value| DecodeError::UnknownValue { kind, value }
}

wire_enum! {
    /// Request types (`ZooDefs.OpCode`), spec §6.
    pub enum OpCode (DecodeError::UnknownOpCode) {
        Notification = 0,
        Create = 1,
        Delete = 2,
        Exists = 3,
        GetData = 4,
        SetData = 5,
        GetAcl = 6,
        SetAcl = 7,
        GetChildren = 8,
        Sync = 9,
        Ping = 11,
        GetChildren2 = 12,
        Check = 13,
        Multi = 14,
        Create2 = 15,
        Reconfig = 16,
        CheckWatches = 17,
        RemoveWatches = 18,
        CreateContainer = 19,
        DeleteContainer = 20,
        CreateTtl = 21,
        MultiRead = 22,
        Auth = 100,
        SetWatches = 101,
        Sasl = 102,
        GetEphemerals = 103,
        GetAllChildrenNumber = 104,
        SetWatches2 = 105,
        AddWatch = 106,
        WhoAmI = 107,
        CreateSession = -10,
        CloseSession = -11,
        Error = -1,
    }
}

impl OpCode {
    /// The short name the Java server prints in logs and in `cons` (`lop=`).
    pub const fn short_name(self) -> &'static str {
        match self {
            OpCode::Notification => "NOTI",
            OpCode::Create | OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                "CREA"
            }
            OpCode::Delete | OpCode::DeleteContainer => "DELE",
            OpCode::Exists => "EXIS",
            OpCode::GetData => "GETD",
            OpCode::SetData => "SETD",
            OpCode::GetAcl => "GETA",
            OpCode::SetAcl => "SETA",
            OpCode::GetChildren | OpCode::GetChildren2 => "GETC",
            OpCode::Sync => "SYNC",
            OpCode::Ping => "PING",
            OpCode::Check => "CHEC",
            OpCode::Multi => "MULT",
            OpCode::Reconfig => "RECO",
            OpCode::CheckWatches => "CHKW",
            OpCode::RemoveWatches => "REMW",
            OpCode::MultiRead => "MLTR",
            OpCode::Auth => "AUTH",
            OpCode::SetWatches => "SETW",
            OpCode::Sasl => "SASL",
            OpCode::GetEphemerals => "GETE",
            OpCode::GetAllChildrenNumber => "GETACN",
            OpCode::SetWatches2 => "STW2",
            OpCode::AddWatch => "ADDW",
            OpCode::WhoAmI => "HOMI",
            OpCode::CreateSession => "SESS",
            OpCode::CloseSession => "CLOS",
            OpCode::Error => "ERROR",
        }
    }
}

wire_enum! {
    /// Reply error codes (`KeeperException.Code`), spec §15. Some exist only in the C client
    /// or are made on the client side; the server never sends those (spec §7.25).
    pub enum ErrorCode (unknown("error code")) {
        Ok = 0,
        SystemError = -1,
        RuntimeInconsistency = -2,
        DataInconsistency = -3,
        ConnectionLoss = -4,
        MarshallingError = -5,
        Unimplemented = -6,
        OperationTimeout = -7,
        BadArguments = -8,
        /// C client only.
        InvalidState = -9,
        UnknownSession = -12,
        NewConfigNoQuorum = -13,
        ReconfigInProgress = -14,
        /// C client only.
        SslConnectionError = -15,
        ApiError = -100,
        NoNode = -101,
        NoAuth = -102,
        BadVersion = -103,
        NoChildrenForEphemerals = -108,
        NodeExists = -110,
        NotEmpty = -111,
        SessionExpired = -112,
        InvalidCallback = -113,
        InvalidAcl = -114,
        AuthFailed = -115,
        /// C client only.
        Closing = -116,
        /// C client only.
        Nothing = -117,
        SessionMoved = -118,
        NotReadOnly = -119,
        EphemeralOnLocalSession = -120,
        NoWatcher = -121,
        RequestTimeout = -122,
        ReconfigDisabled = -123,
        SessionClosedRequireSaslAuth = -124,
        QuotaExceeded = -125,
        ThrottledOp = -127,
    }
}

impl ErrorCode {
    /// The Java server's message for the code (`KeeperException.getCodeMessage`).
    pub const fn message(self) -> &'static str {
        match self {
            ErrorCode::Ok => "ok",
            ErrorCode::SystemError => "SystemError",
            ErrorCode::RuntimeInconsistency => "RuntimeInconsistency",
            ErrorCode::DataInconsistency => "DataInconsistency",
            ErrorCode::ConnectionLoss => "ConnectionLoss",
            ErrorCode::MarshallingError => "MarshallingError",
            ErrorCode::Unimplemented => "Unimplemented",
            ErrorCode::OperationTimeout => "OperationTimeout",
            ErrorCode::BadArguments => "BadArguments",
            ErrorCode::InvalidState => "InvalidState",
            ErrorCode::UnknownSession => "Unknown error -12",
            ErrorCode::NewConfigNoQuorum => "NewConfigNoQuorum",
            ErrorCode::ReconfigInProgress => "ReconfigInProgress",
            ErrorCode::SslConnectionError => "SslConnectionError",
            ErrorCode::ApiError => "APIError",
            ErrorCode::NoNode => "NoNode",
            ErrorCode::NoAuth => "NoAuth",
            ErrorCode::BadVersion => "BadVersion",
            ErrorCode::NoChildrenForEphemerals => "NoChildrenForEphemerals",
            ErrorCode::NodeExists => "NodeExists",
            ErrorCode::NotEmpty => "Directory not empty",
            ErrorCode::SessionExpired => "Session expired",
            ErrorCode::InvalidCallback => "Invalid callback",
            ErrorCode::InvalidAcl => "InvalidACL",
            ErrorCode::AuthFailed => "AuthFailed",
            ErrorCode::Closing => "Closing",
            ErrorCode::Nothing => "Nothing",
            ErrorCode::SessionMoved => "Session moved",
            ErrorCode::NotReadOnly => "Not a read-only call",
            ErrorCode::EphemeralOnLocalSession => "Ephemeral node on local session",
            ErrorCode::NoWatcher => "No such watcher",
            ErrorCode::RequestTimeout => "Unknown error -122",
            ErrorCode::ReconfigDisabled => "Reconfig is disabled",
            ErrorCode::SessionClosedRequireSaslAuth => {
                "Session closed because client failed to authenticate"
            }
            ErrorCode::QuotaExceeded => "Quota has exceeded",
            ErrorCode::ThrottledOp => "Op throttled due to high load",
        }
    }
}

wire_enum! {
    /// `WatcherEvent.type`, spec §11.5. The server only sends 1–4.
    pub enum EventType (unknown("event type")) {
        None = -1,
        NodeCreated = 1,
        NodeDeleted = 2,
        NodeDataChanged = 3,
        NodeChildrenChanged = 4,
        DataWatchRemoved = 5,
        ChildWatchRemoved = 6,
        PersistentWatchRemoved = 7,
    }
}

wire_enum! {
    /// `WatcherEvent.state`, spec §11.5. The server always sends `SyncConnected`.
    pub enum KeeperState (unknown("keeper state")) {
        Unknown = -1,
        Disconnected = 0,
        NoSyncConnected = 1,
        SyncConnected = 3,
        AuthFailed = 4,
        ConnectedReadOnly = 5,
        SaslAuthenticated = 6,
        Closed = 7,
        Expired = -112,
    }
}

wire_enum! {
    /// Create flags, spec §7.2.
    pub enum CreateMode (unknown("create mode")) {
        Persistent = 0,
        Ephemeral = 1,
        PersistentSequential = 2,
        EphemeralSequential = 3,
        Container = 4,
        PersistentWithTtl = 5,
        PersistentSequentialWithTtl = 6,
    }
}

impl CreateMode {
    pub const fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    pub const fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    pub const fn is_container(self) -> bool {
        matches!(self, CreateMode::Container)
    }

    pub const fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

wire_enum! {
    /// `AddWatchRequest.mode`, spec §7.20.
    pub enum AddWatchMode (unknown("add-watch mode")) {
        Persistent = 0,
        PersistentRecursive = 1,
    }
}

wire_enum! {
    /// `type` of checkWatches/removeWatches, spec §7.21 (4 and 5 since 3.9).
    pub enum WatcherType (unknown("watcher type")) {
        Children = 1,
        Data = 2,
        Any = 3,
        Persistent = 4,
        PersistentRecursive = 5,
    }
}

/// ACL permission bits (`ZooDefs.Perms`), spec §12.1. `Acl.perms` is a plain `i32`, so these
/// are `i32` too.
#[derive(Debug)]
pub enum Perms {}

impl Perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 1 << 1;
    pub const CREATE: i32 = 1 << 2;
    pub const DELETE: i32 = 1 << 3;
    pub const ADMIN: i32 = 1 << 4;
    pub const ALL: i32 = Self::READ | Self::WRITE | Self::CREATE | Self::DELETE | Self::ADMIN;

    /// Whether `perms` grants any of the `wanted` bits (ZooKeeper's check is "any", spec §12.4).
    pub const fn allows(perms: i32, wanted: i32) -> bool {
        perms & wanted != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enum_round_trips_through_its_number() {
        fn check<T>(all: &[T])
        where
            T: Copy + PartialEq + std::fmt::Debug + TryFrom<i32, Error = DecodeError> + Into<i32>,
        {
            for &value in all {
                assert_eq!(T::try_from(value.into()), Ok(value));
            }
        }
        check(OpCode::ALL);
        check(ErrorCode::ALL);
        check(EventType::ALL);
        check(KeeperState::ALL);
        check(CreateMode::ALL);
        check(AddWatchMode::ALL);
        check(WatcherType::ALL);
    }

    #[test]
    fn wire_numbers_match_the_spec() {
        assert_eq!(OpCode::Notification.as_i32(), 0);
        assert_eq!(OpCode::CreateSession.as_i32(), -10);
        assert_eq!(OpCode::CloseSession.as_i32(), -11);
        assert_eq!(OpCode::Error.as_i32(), -1);
        assert_eq!(OpCode::Ping.as_i32(), 11);
        assert_eq!(OpCode::Auth.as_i32(), 100);
        assert_eq!(OpCode::SetWatches.as_i32(), 101);
        assert_eq!(OpCode::Sasl.as_i32(), 102);
        assert_eq!(OpCode::GetEphemerals.as_i32(), 103);
        assert_eq!(OpCode::GetAllChildrenNumber.as_i32(), 104);
        assert_eq!(OpCode::SetWatches2.as_i32(), 105);
        assert_eq!(OpCode::AddWatch.as_i32(), 106);
        assert_eq!(OpCode::WhoAmI.as_i32(), 107);
        assert_eq!(OpCode::MultiRead.code(), 22);
        assert_eq!(ErrorCode::Ok.code(), 0);
        assert_eq!(ErrorCode::NoNode.code(), -101);
        assert_eq!(ErrorCode::ThrottledOp.code(), -127);
        assert_eq!(ErrorCode::ALL.len(), 36);
        assert_eq!(OpCode::ALL.len(), 33);
        assert_eq!(KeeperState::Expired.as_i32(), -112);
        assert_eq!(Perms::ALL, 31);
    }

    #[test]
    fn unknown_numbers_are_refused_with_their_value() {
        assert_eq!(OpCode::try_from(10), Err(DecodeError::UnknownOpCode(10)));
        assert_eq!(OpCode::try_from(23), Err(DecodeError::UnknownOpCode(23)));
        assert_eq!(
            ErrorCode::try_from(-126),
            Err(DecodeError::UnknownValue {
                kind: "error code",
                value: -126
            })
        );
        assert!(CreateMode::try_from(7).is_err());
        assert!(CreateMode::try_from(-1).is_err());
        assert!(AddWatchMode::try_from(2).is_err());
        assert!(WatcherType::try_from(0).is_err());
        assert!(WatcherType::try_from(6).is_err());
        assert!(EventType::try_from(0).is_err());
        assert!(KeeperState::try_from(2).is_err());
    }

    #[test]
    fn create_mode_helpers() {
        let table = [
            (CreateMode::Persistent, false, false, false, false),
            (CreateMode::Ephemeral, true, false, false, false),
            (CreateMode::PersistentSequential, false, true, false, false),
            (CreateMode::EphemeralSequential, true, true, false, false),
            (CreateMode::Container, false, false, true, false),
            (CreateMode::PersistentWithTtl, false, false, false, true),
            (
                CreateMode::PersistentSequentialWithTtl,
                false,
                true,
                false,
                true,
            ),
        ];
        for (mode, ephemeral, sequential, container, ttl) in table {
            assert_eq!(mode.is_ephemeral(), ephemeral, "{mode:?}");
            assert_eq!(mode.is_sequential(), sequential, "{mode:?}");
            assert_eq!(mode.is_container(), container, "{mode:?}");
            assert_eq!(mode.is_ttl(), ttl, "{mode:?}");
        }
    }

    #[test]
    fn perms_any_bit_matches() {
        assert!(Perms::allows(Perms::ALL, Perms::ADMIN));
        assert!(Perms::allows(
            Perms::READ | Perms::WRITE,
            Perms::READ | Perms::ADMIN
        ));
        assert!(!Perms::allows(Perms::READ, Perms::WRITE));
        assert!(!Perms::allows(0, Perms::ALL));
    }

    #[test]
    fn error_messages_match_java() {
        assert_eq!(ErrorCode::NotEmpty.message(), "Directory not empty");
        assert_eq!(ErrorCode::InvalidAcl.message(), "InvalidACL");
        assert_eq!(ErrorCode::ApiError.message(), "APIError");
    }
}
