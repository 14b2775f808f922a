"""Transports: the wire codec, and TCP and WebSocket connections as actors."""

from ._codec import MAX_FRAME_SIZE as MAX_FRAME_SIZE
from ._codec import PROTOCOL_VERSION as PROTOCOL_VERSION
from ._codec import ProtocolError as ProtocolError
from ._codec import WireDecoder as WireDecoder
from ._codec import decode_body as decode_body
from ._codec import encode_message as encode_message
from ._codec import encode_message_into as encode_message_into
from ._connection import ConnectionInfo as ConnectionInfo
from ._connection import ConnectionWorker as ConnectionWorker
from ._connection import frame_batch as frame_batch
from ._node import NetworkNode as NetworkNode
from ._node import open_node as open_node
from ._poller import SocketPoller as SocketPoller
from ._stream_io import SocketIO as SocketIO
from ._stream_io import StreamIO as StreamIO
from ._stream_io import stream_io as stream_io
from ._stream_transport import Listener as Listener
from ._stream_transport import ListenerInfo as ListenerInfo
from ._stream_transport import StreamTransport as StreamTransport
from ._tcp import TcpListener as TcpListener
from ._tcp import TcpTransport as TcpTransport
from ._tcp import open_tcp_listener as open_tcp_listener
from ._websocket import WebSocketListener as WebSocketListener
from ._websocket import WebSocketStream as WebSocketStream
from ._websocket import WebSocketTransport as WebSocketTransport
