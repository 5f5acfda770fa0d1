#!/usr/bin/python3
# A CRIU RPC client that is not criu-ts's code: Debian's python3-protobuf over proto/rpc.proto
# compiled by Debian's protoc, speaking SOCK_SEQPACKET as runc, libcriu and pycriu do.
#
#   client.py PB_DIR swrk CRIU_BIN [close-stdio] < steps.json
#                                        a socketpair, `CRIU_BIN swrk FD` on its other end
#   client.py PB_DIR service SOCKET < steps.json   a connection to `criu service` for each step
#
# steps.json is a list; each step is one of
#   {"req": {...criu_req as JSON...}, "images_dir": PATH, "fail_notify": [ACTION...]}
#       send the request (with images_dir_fd set to an fd of ours open on PATH, when given),
#       answer every NOTIFY (success unless its action is listed), until the final answer
#   {"raw": "HEX"}   send these bytes as one packet, read one answer
#   {"stdio_of_tool": true}   (swrk) print {"stdio": [fd 0, 1, 2 of the tool as /proc shows them]}
# and prints one JSON line a step: {"resp": ..., "notify": [[action, pid, got_fd]...]} (and
# "child_of_client" when a restore's root is alive: whether its parent is this client), or
# {"closed": true} when criu closed the socket without answering; then {"exit": CODE} for swrk.
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, sys.argv[1])
import rpc_pb2  # noqa: E402  (made by protoc --python_out=PB_DIR)
from google.protobuf import json_format  # noqa: E402


def recv(sk):
    fds = []
    data, anc, _flags, _addr = sk.recvmsg(1 << 20, socket.CMSG_SPACE(4 * 8))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += [int.from_bytes(payload[i:i + 4], "little") for i in range(0, len(payload) - len(payload) % 4, 4)]
    return data, fds


def step(sk, s):
    out = {"notify": []}
    if "raw" in s:
        sk.send(bytes.fromhex(s["raw"]))
    else:
        req = json_format.ParseDict(s["req"], rpc_pb2.criu_req())
        if req.HasField("opts") and not req.opts.HasField("images_dir_fd"):
            req.opts.images_dir_fd = -1  # required, -1 unless an fd is given (as pycriu and libcriu do)
        dirfd = None
        if "images_dir" in s:
            dirfd = os.open(s["images_dir"], os.O_RDONLY | os.O_DIRECTORY)
            req.opts.images_dir_fd = dirfd
        sk.send(req.SerializeToString())
    while True:
        data, fds = recv(sk)
        for fd in fds:
            os.close(fd)
        if not data:
            out["closed"] = True
            break
        resp = rpc_pb2.criu_resp()
        resp.ParseFromString(data)
        if resp.type == rpc_pb2.NOTIFY:
            act = resp.notify.script
            out["notify"].append([act, resp.notify.pid if resp.notify.HasField("pid") else None, len(fds) > 0])
            ans = rpc_pb2.criu_req(type=rpc_pb2.NOTIFY, notify_success=act not in s.get("fail_notify", []))
            sk.send(ans.SerializeToString())
            continue
        out["resp"] = json_format.MessageToDict(resp, preserving_proto_field_name=True)
        if resp.HasField("restore") and resp.restore.pid > 0:
            try:
                with open(f"/proc/{resp.restore.pid}/stat") as f:
                    out["child_of_client"] = int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
            except OSError:
                pass
        break
    if "raw" not in s and dirfd is not None:
        os.close(dirfd)
    return out


def main():
    mode, target = sys.argv[2], sys.argv[3]
    steps = json.load(sys.stdin)
    proc = None
    if mode == "swrk":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # close-stdio: start criu with fds 0, 1 and 2 closed, as pycriu does
        closed = len(sys.argv) > 4 and sys.argv[4] == "close-stdio"
        pre = (lambda: [os.close(fd) for fd in (0, 1, 2)]) if closed else None
        proc = subprocess.Popen([target, "swrk", str(theirs.fileno())], pass_fds=[theirs.fileno()], preexec_fn=pre)
        theirs.close()
    for s in steps:
        if "stdio_of_tool" in s:
            # where fds 0-2 of the tool (the launcher's child) point
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                tool = int(f.read().split()[0])
            print(json.dumps({"stdio": [os.readlink(f"/proc/{tool}/fd/{fd}") for fd in (0, 1, 2)]}), flush=True)
            continue
        if mode == "service":
            sk = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            sk.connect(target)
        else:
            sk = ours
        try:
            print(json.dumps(step(sk, s)), flush=True)
        except (ConnectionResetError, BrokenPipeError):
            print(json.dumps({"closed": True}), flush=True)
        if mode == "service":
            sk.close()
    if proc:
        ours.close()
        print(json.dumps({"exit": proc.wait(timeout=60)}), flush=True)


main()
