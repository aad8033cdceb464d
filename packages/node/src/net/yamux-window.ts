// The one file that reaches into yamux's stream: its receive-window credit, returned too eagerly.
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

interface WindowFields {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

let installed = false

/**
 * Makes yamux return receive-window credit once half the window is consumed, as hashicorp's and
 * rust-libp2p's yamux do, instead of after every frame read (@chainsafe/libp2p-yamux 7): every
 * heartbeat frame, 2-27 bytes, was answered with a 12-byte window update, its own Noise
 * encryption and socket write on one side and its own read, decryption and parse on the other, as
 * much work as the beat itself. The sender still holds at least half a window (128 KiB) of credit,
 * so nothing waits for it. Frames that carry a SYN or ACK go out as before.
 */
export function returnWindowCreditByHalves(): void {
  if (installed) return
  installed = true
  const prototype = YamuxStream.prototype as unknown as { sendWindowUpdate(this: WindowFields): void }
  const eager = prototype.sendWindowUpdate
  prototype.sendWindowUpdate = function (this: WindowFields) {
    const opening = this.state === StreamState.Init || this.state === StreamState.SYNReceived
    if (!opening && this.recvWindowCapacity * 2 >= this.recvWindow) return
    eager.call(this)
  }
}
