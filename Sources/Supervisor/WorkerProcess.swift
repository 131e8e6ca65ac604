import EchoShared
import EchoSupervision

/// One running `echo-worker` as the supervisor's I/O side sees it: its pid, its control link and
/// its latest figures. Its state (starting, ready, draining...) lives in ``SupervisorStateMachine``.
final class WorkerProcess {
    let id: WorkerID
    let pid: Int32
    let slot: Int
    let link: WorkerLink
    var stats: WorkerStats?

    init(id: WorkerID, pid: Int32, slot: Int, link: WorkerLink) {
        self.id = id
        self.pid = pid
        self.slot = slot
        self.link = link
    }
}
