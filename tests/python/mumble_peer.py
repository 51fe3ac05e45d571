"""A pymumble 1.6.1 test peer for the wyoming-bridge Mumble tests, driven over stdin/stdout.

Usage: mumble_peer.py HOST PORT NAME [PASSWORD]

Prints one JSON object per line on stdout ({"event": ...}); reads one JSON command per line on stdin:
  {"cmd": "join", "channel": NAME}            move to a channel (by name)
  {"cmd": "create_channel", "name": NAME}     create a permanent channel under Root (needs SuperUser)
  {"cmd": "text", "message": TEXT}            send a text message to our channel
  {"cmd": "play", "file": PATH}               play s16le 48 kHz mono PCM, paced by pymumble; "played" when sent
  {"cmd": "record", "file": PATH}             append every received PCM chunk to PATH, and log each chunk's
                                              arrival (time.time(), session, sequence, bytes) to PATH + ".log"
  {"cmd": "users"}                            print the user list
  {"cmd": "hashes"}                           print each user's certificate hash (session -> SHA-1 hex)
  {"cmd": "quit"}
"""

import json
import sys
import threading
import time

import pymumble_py3
from pymumble_py3.constants import (
    PYMUMBLE_CLBK_SOUNDRECEIVED,
    PYMUMBLE_CLBK_TEXTMESSAGERECEIVED,
    PYMUMBLE_CLBK_USERCREATED,
    PYMUMBLE_CLBK_USERUPDATED,
    PYMUMBLE_CLBK_USERREMOVED,
    PYMUMBLE_CLBK_CHANNELCREATED,
    PYMUMBLE_CLBK_PERMISSIONDENIED,
)

out_lock = threading.Lock()


def emit(**event):
    with out_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def main():
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    password = sys.argv[4] if len(sys.argv) > 4 else ""
    mumble = pymumble_py3.Mumble(host, name, port=port, password=password, reconnect=False)
    mumble.set_application_string("wyoming-rs test peer")
    mumble.set_receive_sound(True)
    recording = {"pcm": None, "log": None}
    rec_lock = threading.Lock()

    def on_sound(user, chunk):
        now = time.time()
        with rec_lock:
            if recording["pcm"] is not None:
                recording["pcm"].write(chunk.pcm)
                recording["log"].write("%.6f %d %d %d\n" % (now, user["session"], chunk.sequence, len(chunk.pcm)))

    def user_event(kind):
        def handler(user, *args):
            emit(
                event=kind,
                session=user["session"],
                name=user.get("name", ""),
                channel=user.get("channel_id", 0),
                hash=user.get("hash", ""),
            )

        return handler

    mumble.callbacks.set_callback(PYMUMBLE_CLBK_SOUNDRECEIVED, on_sound)
    mumble.callbacks.set_callback(
        PYMUMBLE_CLBK_TEXTMESSAGERECEIVED,
        lambda msg: emit(event="text", actor=msg.actor, message=msg.message),
    )
    mumble.callbacks.set_callback(PYMUMBLE_CLBK_USERCREATED, user_event("user_created"))
    mumble.callbacks.set_callback(PYMUMBLE_CLBK_USERUPDATED, user_event("user_updated"))
    mumble.callbacks.set_callback(PYMUMBLE_CLBK_USERREMOVED, user_event("user_removed"))
    mumble.callbacks.set_callback(
        PYMUMBLE_CLBK_CHANNELCREATED, lambda ch: emit(event="channel_created", id=ch["channel_id"], name=ch["name"])
    )
    mumble.callbacks.set_callback(
        PYMUMBLE_CLBK_PERMISSIONDENIED, lambda msg: emit(event="permission_denied", reason=str(msg))
    )
    mumble.start()
    mumble.is_ready()
    mumble.sound_output.set_audio_per_packet(0.02)
    emit(event="ready", session=mumble.users.myself_session)

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        kind = cmd["cmd"]
        if kind == "join":
            mumble.channels.find_by_name(cmd["channel"]).move_in()
            emit(event="ack", cmd=kind)
        elif kind == "create_channel":
            mumble.channels.new_channel(0, cmd["name"], False)
            emit(event="ack", cmd=kind)
        elif kind == "text":
            mumble.my_channel().send_text_message(cmd["message"])
            emit(event="ack", cmd=kind)
        elif kind == "play":
            with open(cmd["file"], "rb") as f:
                pcm = f.read()
            started = time.time()
            mumble.sound_output.add_sound(pcm)
            while mumble.sound_output.get_buffer_size() > 0:
                time.sleep(0.01)
            emit(event="played", started=started, finished=time.time())
        elif kind == "record":
            with rec_lock:
                recording["pcm"] = open(cmd["file"], "wb", buffering=0)
                recording["log"] = open(cmd["file"] + ".log", "w", buffering=1)
            emit(event="ack", cmd=kind)
        elif kind == "users":
            users = [{"session": u["session"], "name": u["name"], "channel": u.get("channel_id", 0)} for u in mumble.users.values()]
            emit(event="users", users=users)
        elif kind == "hashes":
            emit(event="hashes", hashes={str(u["session"]): u.get("hash", "") for u in mumble.users.values()})
        elif kind == "quit":
            break
    with rec_lock:
        if recording["pcm"] is not None:
            recording["pcm"].close()
            recording["log"].close()
            recording["pcm"] = None
    mumble.stop()
    emit(event="bye")


if __name__ == "__main__":
    main()
