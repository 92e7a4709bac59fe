"""Durability and concurrency: nothing that got a 250 is ever lost, even
when pochtad is killed with SIGKILL in the middle of a load."""
import smtplib
import threading
import time


def sender_loop(port, tag, acked, stop):
    n = 0
    while not stop.is_set():
        subject = f"{tag}-{n}"
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
                s.sendmail("carol@good.sender.test", ["alice@example.test"],
                           f"Subject: {subject}\r\nMessage-ID: <{subject}@t>\r\n\r\nbody {subject}\r\n")
            acked.append(subject)  # smtplib returned: the server said 250
        except (OSError, smtplib.SMTPException):
            if stop.is_set():
                return
            time.sleep(0.05)
        n += 1


def subjects_in(pochta):
    found = []
    for m in pochta.messages("alice@example.test"):
        for line in m.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                found.append(line[9:].decode())
                break
    return found


def test_concurrent_sessions_all_delivered(pochta):
    acked, stop = [], threading.Event()
    threads = [threading.Thread(target=sender_loop, args=(pochta.port, f"c{i}", acked, stop)) for i in range(20)]
    for t in threads:
        t.start()
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 20
    pochta.wait_messages("alice@example.test", len(acked), timeout=60)
    assert sorted(subjects_in(pochta)) == sorted(acked)


def test_sigkill_under_load_loses_no_acknowledged_message(pochta):
    acked, stop = [], threading.Event()
    threads = [threading.Thread(target=sender_loop, args=(pochta.port, f"k{i}", acked, stop)) for i in range(10)]
    for t in threads:
        t.start()
    time.sleep(2.5)
    pochta.kill()          # crash: no shutdown, no flush
    stop.set()
    for t in threads:
        t.join()
    acked_now = list(acked)
    assert len(acked_now) >= 10, "the load never got going"
    pochta.start()         # same state directory: recovery and delivery on restart
    deadline = time.time() + 60
    while time.time() < deadline:
        missing = set(acked_now) - set(subjects_in(pochta))
        if not missing:
            break
        time.sleep(0.2)
    assert not missing, f"{len(missing)} acknowledged messages lost: {sorted(missing)[:10]}"
