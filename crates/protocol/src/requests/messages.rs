//! Partition-plane requests: sending, polling and consumer offsets (§5.6, §5.7).

use bytes::{BufMut, BytesMut};

use crate::types::{
    AckLevel, Consumer, Identifier, Partitioning, PollingStrategy, put_optional_partition, read_optional_partition,
};
use crate::wire::{DecodeError, Reader, put_u32_length};

/// The metadata in front of the batch record of SEND_MESSAGES (101), §5.6/§6.1:
/// `[metadata_length u32][Id stream][Id topic][Partitioning][messages_count u32]`, then the
/// record. `metadata_length` excludes itself but includes `messages_count` (trap 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessagesHeader {
    pub stream: Identifier,
    pub topic: Identifier,
    pub partitioning: Partitioning,
    /// Must equal the record's `message_count`; the caller checks it after
    /// `batch::validate` (InvalidMessagesCount otherwise).
    pub messages_count: u32,
    /// Offset in the payload where the batch record starts, so the server can split the
    /// buffer there without copying the messages.
    pub batch_start: usize,
}

impl SendMessagesHeader {
    /// A header for sending; `batch_start` is computed from the fields.
    pub fn new(stream: Identifier, topic: Identifier, partitioning: Partitioning, messages_count: u32) -> Self {
        let metadata_length = stream.encoded_len() + topic.encoded_len() + partitioning.encoded_len() + 4;
        SendMessagesHeader { stream, topic, partitioning, messages_count, batch_start: 4 + metadata_length }
    }

    /// Reads the metadata only; the record after `batch_start` is left to `crate::batch`.
    pub fn decode(payload: &[u8]) -> Result<SendMessagesHeader, DecodeError> {
        let mut reader = Reader::new(payload);
        let declared = reader.u32()?;
        let stream = Identifier::read(&mut reader)?;
        let topic = Identifier::read(&mut reader)?;
        let partitioning = Partitioning::read(&mut reader)?;
        let messages_count = reader.u32()?;
        let batch_start = reader.position();
        // A disagreeing length means the client framed something we did not parse: trusting
        // either number would hand a shifted record to the batch validator.
        if batch_start - 4 != declared as usize {
            return Err(DecodeError::MetadataLengthMismatch { declared, parsed: batch_start - 4 });
        }
        Ok(SendMessagesHeader { stream, topic, partitioning, messages_count, batch_start })
    }

    /// Writes `metadata_length` and the metadata; the caller appends the record.
    pub fn encode(&self, buffer: &mut BytesMut) {
        let metadata_length =
            self.stream.encoded_len() + self.topic.encoded_len() + self.partitioning.encoded_len() + 4;
        put_u32_length(buffer, metadata_length);
        self.stream.encode(buffer);
        self.topic.encode(buffer);
        self.partitioning.encode(buffer);
        buffer.put_u32_le(self.messages_count);
    }
}

/// POLL_MESSAGES (100): `Consumer, Id stream, Id topic, OptP, Strategy, [count u32],
/// [auto_commit u8]` (identical in L and V).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollMessages {
    pub consumer: Consumer,
    pub stream: Identifier,
    pub topic: Identifier,
    pub partition_id: Option<u32>,
    pub strategy: PollingStrategy,
    pub count: u32,
    /// Any non-zero byte, as both servers read it.
    pub auto_commit: bool,
}

impl PollMessages {
    pub fn decode(payload: &[u8]) -> Result<PollMessages, DecodeError> {
        let mut reader = Reader::new(payload);
        let consumer = Consumer::read(&mut reader)?;
        let stream = Identifier::read(&mut reader)?;
        let topic = Identifier::read(&mut reader)?;
        let partition_id = read_optional_partition(&mut reader)?;
        let strategy = PollingStrategy::read(&mut reader)?;
        let count = reader.u32()?;
        let auto_commit = reader.u8()? != 0;
        reader.finish()?;
        Ok(PollMessages { consumer, stream, topic, partition_id, strategy, count, auto_commit })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        self.consumer.encode(buffer);
        self.stream.encode(buffer);
        self.topic.encode(buffer);
        put_optional_partition(buffer, self.partition_id);
        self.strategy.encode(buffer);
        buffer.put_u32_le(self.count);
        buffer.put_u8(u8::from(self.auto_commit));
    }
}

/// GET_CONSUMER_OFFSET (120): `Consumer, Id stream, Id topic, OptP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetConsumerOffset {
    pub consumer: Consumer,
    pub stream: Identifier,
    pub topic: Identifier,
    pub partition_id: Option<u32>,
}

impl GetConsumerOffset {
    pub fn decode(payload: &[u8]) -> Result<GetConsumerOffset, DecodeError> {
        let mut reader = Reader::new(payload);
        let target = OffsetTarget::read(&mut reader)?;
        reader.finish()?;
        Ok(GetConsumerOffset {
            consumer: target.consumer,
            stream: target.stream,
            topic: target.topic,
            partition_id: target.partition_id,
        })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_target(buffer, &self.consumer, &self.stream, &self.topic, self.partition_id);
    }
}

/// STORE_CONSUMER_OFFSET (121): `Consumer, Id stream, Id topic, OptP, [offset u64]`, then in
/// V an `[ack u8]`; the legacy form ends after the offset. Both are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConsumerOffset {
    pub consumer: Consumer,
    pub stream: Identifier,
    pub topic: Identifier,
    pub partition_id: Option<u32>,
    pub offset: u64,
    /// `None` for the legacy form.
    pub ack: Option<AckLevel>,
}

impl StoreConsumerOffset {
    pub fn decode(payload: &[u8]) -> Result<StoreConsumerOffset, DecodeError> {
        let mut reader = Reader::new(payload);
        let target = OffsetTarget::read(&mut reader)?;
        let offset = reader.u64()?;
        let ack = read_optional_ack(&mut reader)?;
        reader.finish()?;
        Ok(StoreConsumerOffset {
            consumer: target.consumer,
            stream: target.stream,
            topic: target.topic,
            partition_id: target.partition_id,
            offset,
            ack,
        })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_target(buffer, &self.consumer, &self.stream, &self.topic, self.partition_id);
        buffer.put_u64_le(self.offset);
        if let Some(ack) = self.ack {
            buffer.put_u8(ack as u8);
        }
    }
}

/// DELETE_CONSUMER_OFFSET (122): `Consumer, Id stream, Id topic, OptP`, then in V `[ack u8]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteConsumerOffset {
    pub consumer: Consumer,
    pub stream: Identifier,
    pub topic: Identifier,
    pub partition_id: Option<u32>,
    /// `None` for the legacy form.
    pub ack: Option<AckLevel>,
}

impl DeleteConsumerOffset {
    pub fn decode(payload: &[u8]) -> Result<DeleteConsumerOffset, DecodeError> {
        let mut reader = Reader::new(payload);
        let target = OffsetTarget::read(&mut reader)?;
        let ack = read_optional_ack(&mut reader)?;
        reader.finish()?;
        Ok(DeleteConsumerOffset {
            consumer: target.consumer,
            stream: target.stream,
            topic: target.topic,
            partition_id: target.partition_id,
            ack,
        })
    }

    pub fn encode(&self, buffer: &mut BytesMut) {
        put_target(buffer, &self.consumer, &self.stream, &self.topic, self.partition_id);
        if let Some(ack) = self.ack {
            buffer.put_u8(ack as u8);
        }
    }
}

/// The `Consumer, Id stream, Id topic, OptP` prefix of the three offset requests.
struct OffsetTarget {
    consumer: Consumer,
    stream: Identifier,
    topic: Identifier,
    partition_id: Option<u32>,
}

impl OffsetTarget {
    fn read(reader: &mut Reader<'_>) -> Result<OffsetTarget, DecodeError> {
        Ok(OffsetTarget {
            consumer: Consumer::read(reader)?,
            stream: Identifier::read(reader)?,
            topic: Identifier::read(reader)?,
            partition_id: read_optional_partition(reader)?,
        })
    }
}

fn put_target(
    buffer: &mut BytesMut,
    consumer: &Consumer,
    stream: &Identifier,
    topic: &Identifier,
    partition_id: Option<u32>,
) {
    consumer.encode(buffer);
    stream.encode(buffer);
    topic.encode(buffer);
    put_optional_partition(buffer, partition_id);
}

/// The V trailing ack byte, absent in the legacy form.
fn read_optional_ack(reader: &mut Reader<'_>) -> Result<Option<AckLevel>, DecodeError> {
    if reader.remaining() == 0 {
        return Ok(None);
    }
    AckLevel::read(reader).map(Some)
}
