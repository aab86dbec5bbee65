'use strict';
// The region-mapping addon (native/node/region_map.cpp), loaded by Node as the native client
// loads it: what is written through a mapping is in the file, unmap detaches every view, and bad
// arguments throw instead of crashing.   node region_map.test.js <path to cvp_region_map.node>
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const addon = require(path.resolve(process.argv[2]));
const MB = 1 << 20;
const file = path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), `cvp-region-map-test-${process.pid}`);
fs.writeFileSync(file, Buffer.alloc(MB));
const fd = fs.openSync(file, 'r+');
fs.unlinkSync(file);

// writes through the mapping are the file's bytes, and the file's writes are the mapping's
const ab = addon.map(fd, MB);
assert.equal(ab.byteLength, MB);
const view = Buffer.from(ab);
view.write('through the mapping', 4096);
const back = Buffer.alloc(19);
fs.readSync(fd, back, 0, 19, 4096);
assert.equal(back.toString(), 'through the mapping');
fs.writeSync(fd, Buffer.from('through the file'), 0, 16, MB - 16);
assert.equal(view.subarray(MB - 16).toString(), 'through the file');

// unmap detaches: views read as empty, a second unmap and a foreign buffer are refused
addon.unmap(ab);
assert.equal(ab.byteLength, 0);
assert.equal(view.length, 0);
assert.equal(view[4096], undefined);
assert.throws(() => addon.unmap(ab), /still mapped/);
assert.throws(() => addon.unmap(new ArrayBuffer(8)), /still mapped/);

// bad arguments
assert.throws(() => addon.map(fd, 0), /positive length/);
assert.throws(() => addon.map(-1, 4096), /positive length/);
assert.throws(() => addon.map(fd), /two arguments/);
assert.throws(() => addon.map(123456, 4096), /mmap: Bad file descriptor/);

// mappings nobody unmaps are left to their finalizer (munmap when collected): 256 of them, no crash
for (let i = 0; i < 256; i++) Buffer.from(addon.map(fd, MB))[0] = i;
if (global.gc) global.gc();
fs.closeSync(fd);
console.log('region_map addon: ok');
