// Blocked before anything else runs, so that every thread created later inherits the mask and the
// signals reach the supervisor only through its signalfd (see SignalReceiver).
SignalReceiver.blockHandledSignals()
EchoCommand.main()
