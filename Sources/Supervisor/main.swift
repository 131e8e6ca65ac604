// The launcher mode (`echo __exec-with-pdeathsig ...`) execs another program: it must run before
// the signal mask below is set, since a blocked mask survives exec.
ParentDeathLauncher.runIfRequested(CommandLine.arguments)
// Blocked before anything else runs, so that every thread created later inherits the mask and the
// signals reach the supervisor only through its signalfd (see SignalReceiver).
SignalReceiver.blockHandledSignals()
EchoCommand.main()
