//! Node's child IPC wire formats, as seen by the primary end of a channel.
//!
//! `json`: one JSON document per line. `advanced`: a 4-byte big-endian length, then V8
//! serializer bytes (header included). The decoder hands complete messages on to JS untouched,
//! except Node's handle acknowledgements (`{cmd: 'NODE_HANDLE_ACK' | 'NODE_HANDLE_NACK'}`),
//! which Rust consumes itself: it owns the handles in flight.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Json,
    Advanced,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Ack,
    Nack,
}

const JSON_ACK: &[u8] = br#"{"cmd":"NODE_HANDLE_ACK"}"#;
const JSON_NACK: &[u8] = br#"{"cmd":"NODE_HANDLE_NACK"}"#;

/// V8 serialization (format version 15) of `{cmd: s}` for a one-byte string `s`.
fn v8_cmd_object(cmd: &[u8]) -> Vec<u8> {
    let mut v = vec![0xFF, 0x0F, b'o'];
    v8_str(&mut v, b"cmd");
    v8_str(&mut v, cmd);
    v.extend_from_slice(&[b'{', 1]);
    v
}

fn v8_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Splits a byte stream into messages.
pub struct Decoder {
    mode: Mode,
    /// The largest message accepted ([`MAX_FRAME`]; smaller in tests).
    max_frame: usize,
    buf: Vec<u8>,
    v8_ack: Vec<u8>,
    v8_nack: Vec<u8>,
}

impl Decoder {
    pub fn new(mode: Mode) -> Decoder {
        Decoder {
            mode,
            max_frame: MAX_FRAME,
            buf: Vec::new(),
            v8_ack: v8_cmd_object(b"NODE_HANDLE_ACK"),
            v8_nack: v8_cmd_object(b"NODE_HANDLE_NACK"),
        }
    }

    /// True while a partial message is buffered (Node's `channel.buffering`).
    pub fn buffering(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Feeds bytes read from the channel. Complete messages other than acknowledgements are
    /// appended to `out` in wire form (json: lines with their '\n'; advanced: frames with their
    /// length prefix); acknowledgements go to `controls`, in order. A message announced (or,
    /// for json, grown) beyond [`MAX_FRAME`] is refused: the peer is not speaking the protocol
    /// (or is trying to grow this process's memory), and the channel is to be closed.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>, controls: &mut Vec<Control>) -> Result<(), FrameTooLarge> {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        match self.mode {
            Mode::Json => {
                while let Some(nl) = memchr(&self.buf[start..]) {
                    let line = &self.buf[start..start + nl];
                    if line == JSON_ACK {
                        controls.push(Control::Ack);
                    } else if line == JSON_NACK {
                        controls.push(Control::Nack);
                    } else {
                        out.extend_from_slice(&self.buf[start..start + nl + 1]);
                    }
                    start += nl + 1;
                }
            }
            Mode::Advanced => {
                while self.buf.len() - start >= 4 {
                    let b = &self.buf[start..];
                    let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
                    if len > self.max_frame {
                        return Err(FrameTooLarge(len));
                    }
                    if b.len() < 4 + len {
                        break;
                    }
                    let body = &b[4..4 + len];
                    if body == self.v8_ack.as_slice() {
                        controls.push(Control::Ack);
                    } else if body == self.v8_nack.as_slice() {
                        controls.push(Control::Nack);
                    } else {
                        out.extend_from_slice(&b[..4 + len]);
                    }
                    start += 4 + len;
                }
            }
        }
        self.buf.drain(..start);
        if self.mode == Mode::Json && self.buf.len() > self.max_frame {
            return Err(FrameTooLarge(self.buf.len()));
        }
        Ok(())
    }
}

/// The largest message a channel accepts (512 MiB): Node sets no bound, but a peer announcing
/// more is not one to trust with this process's memory.
pub const MAX_FRAME: usize = 512 << 20;

/// A message beyond [`MAX_FRAME`] (its size in bytes, as announced or as buffered so far).
#[derive(Debug, PartialEq, Eq)]
pub struct FrameTooLarge(pub usize);

fn memchr(hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == b'\n')
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_frames_beyond_the_bound_without_buffering_them() {
        let (mut out, mut ctl) = (Vec::new(), Vec::new());
        let mut d = Decoder::new(Mode::Advanced);
        let huge = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert_eq!(d.feed(&huge, &mut out, &mut ctl), Err(FrameTooLarge(MAX_FRAME + 1)));
        let mut j = Decoder::new(Mode::Json);
        j.max_frame = 1024;
        assert!(j.feed(&[b'x'; 1000], &mut out, &mut ctl).is_ok());
        assert_eq!(j.feed(&[b'x'; 100], &mut out, &mut ctl), Err(FrameTooLarge(1100)));
    }

    #[test]
    fn json_lines_split_across_reads() {
        let mut d = Decoder::new(Mode::Json);
        let (mut out, mut ctl) = (Vec::new(), Vec::new());
        d.feed(b"{\"a\":1}\n{\"b\"", &mut out, &mut ctl).unwrap();
        assert_eq!(out, b"{\"a\":1}\n");
        assert!(d.buffering());
        d.feed(b":2}\n", &mut out, &mut ctl).unwrap();
        assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n");
        assert!(!d.buffering());
        assert!(ctl.is_empty());
    }

    #[test]
    fn json_acks_are_consumed() {
        let mut d = Decoder::new(Mode::Json);
        let (mut out, mut ctl) = (Vec::new(), Vec::new());
        d.feed(b"1\n{\"cmd\":\"NODE_HANDLE_ACK\"}\n2\n{\"cmd\":\"NODE_HANDLE_NACK\"}\n", &mut out, &mut ctl).unwrap();
        assert_eq!(out, b"1\n2\n");
        assert_eq!(ctl, vec![Control::Ack, Control::Nack]);
    }

    #[test]
    fn advanced_frames_and_acks() {
        // Bytes from node: v8.DefaultSerializer writeHeader + writeValue({cmd:'NODE_HANDLE_ACK'}).
        let ack: &[u8] = &[
            0xff, 0x0f, 0x6f, 0x22, 0x03, 0x63, 0x6d, 0x64, 0x22, 0x0f, 0x4e, 0x4f, 0x44, 0x45,
            0x5f, 0x48, 0x41, 0x4e, 0x44, 0x4c, 0x45, 0x5f, 0x41, 0x43, 0x4b, 0x7b, 0x01,
        ];
        let mut wire = Vec::new();
        wire.extend_from_slice(&(ack.len() as u32).to_be_bytes());
        wire.extend_from_slice(ack);
        wire.extend_from_slice(&[0, 0, 0, 3, 0xff, 0x0f, b'0']);
        let mut d = Decoder::new(Mode::Advanced);
        let (mut out, mut ctl) = (Vec::new(), Vec::new());
        d.feed(&wire[..5], &mut out, &mut ctl).unwrap();
        assert!(out.is_empty() && ctl.is_empty());
        d.feed(&wire[5..wire.len() - 1], &mut out, &mut ctl).unwrap();
        assert_eq!(ctl, vec![Control::Ack]);
        assert!(out.is_empty());
        d.feed(&wire[wire.len() - 1..], &mut out, &mut ctl).unwrap();
        assert_eq!(out, vec![0, 0, 0, 3, 0xff, 0x0f, b'0']);
    }
}
