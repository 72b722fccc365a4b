'use strict';
// Node's two IPC wire formats. json: one JSON document per line. advanced: a 4-byte big-endian
// length, then V8 serializer bytes; array buffer views and other host objects are tagged the
// way Node's child_process serializer tags them, so a Node peer reads them back.
// (Node's `v8` module brings all of `stream`: loaded with the first message that needs these.)
let hostObjectClasses = null;
function serializerClasses() {
  if (hostObjectClasses !== null) return hostObjectClasses;
  const v8 = require('v8');
  class Serializer extends v8.DefaultSerializer {
    _writeHostObject(object) {
      if (ArrayBuffer.isView(object)) {
        this.writeUint32(kViewTag);
        return super._writeHostObject(object);
      }
      this.writeUint32(kPlainTag);
      this.writeValue({ ...object });
    }
  }
  class Deserializer extends v8.DefaultDeserializer {
    _readHostObject() {
      return this.readUint32() === kViewTag ? super._readHostObject() : this.readValue();
    }
  }
  hostObjectClasses = { Serializer, Deserializer };
  return hostObjectClasses;
}

const kViewTag = 0;
const kPlainTag = 1;

const json = {
  encode(message) {
    return JSON.stringify(message) + '\n';
  },
  // `text` holds complete lines only (Rust keeps partial ones).
  // A line that is not JSON ends the batch: what came before it is returned, with the error
  // as `out.error` (the channel then closes, see channel.js).
  decode(text) {
    const lines = text.split('\n');
    const out = [];
    for (let i = 0; i < lines.length - 1; i++) {
      try {
        out.push(JSON.parse(lines[i]));
      } catch (error) {
        out.error = error;
        return out;
      }
    }
    return out;
  },
};

// Plain data goes through the shim's serializer (src/shim/ipc_codec.cc: the same bytes, without
// the JS serializer classes' cost); typed arrays and other host objects through these classes.
const { native } = require('../binding');

const advanced = {
  // What the shim decoded as it was read ([...values, stop], see src/ipc/js.rs) and `rest`, the
  // bytes from the first frame it left to JS (when stop >= 0).
  decodeRead(decoded, rest) {
    const stop = decoded.pop();
    if (stop < 0) return decoded;
    const more = this.decode(rest);
    for (let i = 0; i < more.length; i++) decoded.push(more[i]);
    if (more.error !== undefined) decoded.error = more.error;
    return decoded;
  },
  encode(message) {
    return native.ipcEncode(message) ?? advancedInJs.encode(message);
  },
  // `buf` holds complete frames only.
  // A frame that does not deserialize ends the batch, as in json.decode.
  decode(buf) {
    const out = [];
    let off = 0;
    try {
      for (;;) {
        const part = native.ipcDecode(buf, off);
        const stop = part.pop();
        for (let i = 0; i < part.length; i++) out.push(part[i]);
        if (stop < 0) return out;
        const len = buf.readUInt32BE(stop);
        out.push(...advancedInJs.decode(buf.subarray(stop, stop + 4 + len)));
        off = stop + 4 + len;
      }
    } catch (error) {
      out.error = error;
      return out;
    }
  },
};

const advancedInJs = {
  encode(message) {
    const ser = new (serializerClasses().Serializer)();
    ser.writeRawBytes(Buffer.allocUnsafe(4));
    ser.writeHeader();
    ser.writeValue(message);
    const buf = ser.releaseBuffer();
    buf.writeUInt32BE(buf.length - 4, 0);
    return buf;
  },
  // `buf` holds complete frames only.
  decode(buf) {
    const out = [];
    let off = 0;
    while (off + 4 <= buf.length) {
      const len = buf.readUInt32BE(off);
      const des = new (serializerClasses().Deserializer)(buf.subarray(off + 4, off + 4 + len));
      des.readHeader();
      out.push(des.readValue());
      off += 4 + len;
    }
    return out;
  },
};

module.exports = { json, advanced, advancedInJs };
