//! The handshake as replaygate reads and patches it: the server greeting, the client's
//! handshake response or SSL request, each authentication turn, COM_CHANGE_USER. Patching in
//! place must keep every packet's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mysql_common::constants::CapabilityFlags;
use replaygate::protocol::handshake::{
    auth_turn, change_user_database, is_tls_request, patch_change_user_charset, patch_client_hello,
    patch_greeting, request_tls,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, packet)) = data.split_first() else {
        return;
    };
    let mut greeting = packet.to_vec();
    let _ = patch_greeting(&mut greeting, mode & 1 != 0);
    assert_eq!(greeting.len(), packet.len());

    let mut hello = packet.to_vec();
    let pin = (mode & 2 != 0).then_some(mode);
    let _ = patch_client_hello(&mut hello, pin);
    assert_eq!(hello.len(), packet.len());
    let _ = is_tls_request(packet);
    let request = request_tls(&mut hello);
    assert_eq!(request.len(), 32);

    let _ = auth_turn(packet);

    let caps = CapabilityFlags::from_bits_truncate(u32::from(mode) << 8 | 0x0000_8200);
    let _ = change_user_database(packet, caps);
    let mut change_user = packet.to_vec();
    patch_change_user_charset(&mut change_user, caps, mode);
    assert_eq!(change_user.len(), packet.len());
});
