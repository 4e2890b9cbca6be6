//! The sync socket's decoder of a client's text frame (`ClientMessage::decode`): any text
//! decodes or is refused without a panic, and what decodes survives encode → decode
//! unchanged, with a stable encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_protocol::ClientMessage;

fuzz_target!(|data: &[u8]| {
    // A WebSocket text frame is UTF-8 by the time the socket reads it.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(message) = ClientMessage::decode(text) else { return };
    let wire = message.encode();
    let again = match ClientMessage::decode(&wire) {
        Ok(again) => again,
        Err(e) => panic!("{message:?} encodes as {wire}, which does not decode: {e}"),
    };
    assert_eq!(again, message, "decode(encode(m)) == m for {wire}");
    assert_eq!(again.encode(), wire, "the encoding is stable");
});
