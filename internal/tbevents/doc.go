// Package tbevents writes TensorBoard event files: the TFRecord framing
// (length, masked CRC-32C of the length, payload, masked CRC-32C of the
// payload) around tensorflow.Event protocol buffers holding scalar
// summaries, which is all `tensorboard --logdir` needs to plot a run.
//
// The two messages are encoded with google.golang.org/protobuf's protowire
// (already a dependency through GoMLX) rather than with generated code from
// TensorFlow's .proto files: five fields of two messages do not justify
// vendoring TensorFlow's protos. Field numbers follow
// tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto:
//
//	Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//	Summary { repeated Value value = 1; }
//	Value   { string tag = 1; float simple_value = 2; }
//
// Files are named events.out.tfevents.<unix seconds>.<host>.<pid>, the
// pattern TensorBoard's loader looks for, and start with a file_version
// "brain.Event:2" record as TensorFlow's writers do.
package tbevents
