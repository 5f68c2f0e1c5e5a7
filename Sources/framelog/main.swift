import FramelogKafka
print(LibrdkafkaVersion.string)
