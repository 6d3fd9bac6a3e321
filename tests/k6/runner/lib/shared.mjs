// The shared-memory layout between the main thread and the VU threads.
//
// A VU runs the script synchronously and never returns to its event loop while iterating, so it
// cannot receive messages: everything the main thread tells a running VU goes through these
// Int32Arrays, read with Atomics and waited on with Atomics.wait. What a VU tells the main thread
// goes through ordinary postMessage (which a blocked sender can still do).

// Per-VU control words.
export const CTL_STATE = 0; // one of the VU_* states below
export const CTL_RESPONSE_SEQ = 1; // bumped by the main thread when an HTTP answer was posted
export const CTL_WORDS = 2;

export const VU_IDLE = 0; // parked between iterations (not started, or ramped down)
export const VU_ACTIVE = 1; // iterating
export const VU_STOP = 2; // finish the current iteration, then report "done"

// Test-wide counters, shared by every VU.
export const G_ITERATIONS_CLAIMED = 0; // shared-iterations: the next iteration index to run
export const G_ITERATIONS_STARTED = 1; // exec.scenario.iterationInTest
export const G_ITERATIONS_COMPLETED = 2;
export const G_VUS_ACTIVE = 3;
export const G_ABORTED = 4; // exec.test.abort() was called
export const G_WORDS = 5;

export function newControl() {
  return new Int32Array(new SharedArrayBuffer(CTL_WORDS * Int32Array.BYTES_PER_ELEMENT));
}

export function newGlobals() {
  return new Int32Array(new SharedArrayBuffer(G_WORDS * Int32Array.BYTES_PER_ELEMENT));
}
