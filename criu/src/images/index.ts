// Public API of the image layer: schema types, magic table, reader/writer, crit JSON.
export * from './gen/types.js';
export { ImageError } from './errors.js';
export { decodeMessage, encodeMessage, decodeEntry, encodeEntry, unknownFields, UNKNOWN_FIELDS, type Message, type UnknownField } from './codec.js';
export { messageInfo, enumInfo, hasMessage, messageNames, type FieldInfo, type MessageInfo, type EnumInfo, type CriuOpts } from './schema.js';
export {
  IMAGE_KINDS,
  IMG_COMMON_MAGIC,
  IMG_SERVICE_MAGIC,
  INVENTORY_MAGIC,
  KDAT_MAGIC,
  kindByName,
  kindByMagic,
  kindForFileName,
  magicName,
  type ImageKind,
  type ImageLayout,
  type ExtraKind,
} from './magic.js';
export {
  ImageReader,
  ImageWriter,
  openImage,
  readImage,
  parseImage,
  readMessages,
  readSingle,
  writeImage,
  writeImageEntries,
  encodeImage,
  entryType,
  payloadSize,
  type Image,
  type ImageEntry,
  type OpenImageOptions,
  type ImageWriterOptions,
} from './image.js';
export {
  messageToDict,
  dictToMessage,
  imageToDict,
  dictToImage,
  imageBytesToJson,
  imageToJsonPieces,
  jsonToImageBytes,
  stringifyJson,
  parseJson,
  formatFlags,
  base64Lines,
  type JsonValue,
  type JsonObject,
  type ToJsonOptions,
} from './json.js';
export { KIND_MESSAGE, type KindName } from './magic.js';
export {
  readEntries,
  readMessagesOf,
  readOptional,
  readOne,
  readPagemap,
  readPagemapLoose,
  readGhost,
  writeEntries,
  writeMessages,
  writePagemap,
  type PlainKind,
  type EntryOf,
  type Entry,
  type Pagemap,
  type Ghost,
  type ReadOptions,
  type WriteOptions,
} from './typed.js';
