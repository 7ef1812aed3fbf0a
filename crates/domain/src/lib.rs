//! The pure domain of shiming: validated value types, masking, the derivation of
//! an account's real-name status from its bound credentials, and the small
//! enums every other layer speaks. Nothing here does I/O; randomness and time
//! are passed in by the caller so that every rule is testable as a function.

pub mod account;
pub mod code;
pub mod enterprise;
pub mod id_number;
pub mod name;
pub mod person;
pub mod phone;
pub mod realname;
pub mod rebind;
pub mod secret;

pub use account::{AccountState, Nature};
pub use code::{CodeFormatError, CodePurpose, SmsCode};
pub use enterprise::{
    ApprovalState, ChangeRefused, DisplayName, EnterpriseName, EnterpriseNameError, InvitationState, MemberChange,
    MemberFlag, Policy, PolicyPatch, Reason, Role, Seat,
};
pub use id_number::{IdNumber, IdNumberError};
pub use name::{NameError, PersonName};
pub use person::Person;
pub use phone::{Phone, PhoneError};
pub use realname::{derive_real_name, CredentialKind, RealName, RealNameStatus};
pub use secret::Secret;
