// Generated from lexicons/ by core/lexicon-codegen.ts. Do not edit: change the schema, then run
// `UPDATE_LEXICON_TYPES=1 npx vitest run core/lexicons.test.ts`.

export interface OrgP2pdsChallengeCreateStorageChallenge {
  v: number
  /** L2: produce the sampled blocks; L3: produce Merkle paths to the sampled records. */
  level: 'L2' | 'L3' | (string & {})
  /** The challenger's DID, or its PeerID while it has no identity. */
  challenger: string
  /** The account whose repository is checked. */
  target: string
  /** PeerID that must answer and sign. */
  responder: string
  /** Commit the challenge is about. */
  commit: string
  rev: string
  /** floor(issue time / 1 hour); a generation input. */
  epoch: number
  /** Random bytes, base64url; a generation input. */
  nonce: string
  /** Unix ms after which no answer is accepted. */
  deadline: number
  /** L2: sampled block CIDs. */
  cids?: Array<string>
  /** L3: sampled record paths, collection/rkey. */
  paths?: Array<string>
}

export interface OrgP2pdsChallengeCreateStorageChallengeResponse {
  v: number
  /** SHA-256 (hex) of the challenge's fields in a fixed order. */
  challenge: string
  /** The responder's PeerID. */
  responder: string
  /** L2: the sampled blocks held. */
  blocks?: Array<OrgP2pdsChallengeCreateBlock>
  /** L3: CAR of the commit, the MST nodes on the paths and the records, base64. */
  proof?: string
  /** libp2p-key signature of 'p2pds-challenge-response/1\n<challenge>\n<responder>\n<sha256 of blocks and proof>', base64. */
  signature: string
}

export interface OrgP2pdsChallengeCreateBlock {
  cid: string
  /** The block's bytes, base64. */
  bytes: string
}

/** Output of org.p2pds.challenge.describe. */
export interface OrgP2pdsChallengeDescribeOutput {
  peerId: string
  multiaddrs: Array<string>
}

/** One NSID seen in the records a node holds (each record's collection, and its top-level $type when that differs). */
export interface OrgP2pdsLexiconDefsLexiconView {
  nsid: string
  /** Records held with this NSID (0: seen before, none held now). */
  records: number
  /** Repositories holding at least one such record. */
  repos: number
  firstSeenAt: string
  lastSeenAt: string
}

/** Output of org.p2pds.lexicon.list. */
export interface OrgP2pdsLexiconListOutput {
  lexicons: Array<OrgP2pdsLexiconDefsLexiconView>
  /** Absent on the last page. */
  cursor?: string
}

/** Output of org.p2pds.lexicon.search. */
export interface OrgP2pdsLexiconSearchOutput {
  lexicons: Array<OrgP2pdsLexiconDefsLexiconView>
}

/** Output of org.p2pds.lexicon.stats. */
export interface OrgP2pdsLexiconStatsOutput {
  /** NSIDs with at least one record held. */
  nsids: number
  /** Records held in the indexed repositories. */
  records: number
  /** Repositories indexed. */
  repos: number
  /** When the index last changed; absent when nothing was indexed. */
  updatedAt?: string
}

/** Binds the account's DID to the libp2p PeerID, multiaddrs and endpoint URL of the P2PDS node acting for it. Published on login. */
export interface OrgP2pdsPeer {
  $type: 'org.p2pds.peer'
  /** libp2p PeerID of the node (absent while the node has no libp2p network). */
  peerId?: string
  /** libp2p multiaddrs at which the node listens. */
  multiaddrs: Array<string>
  /** https URL of the node's peer-facing XRPC server; absent when the node has no public endpoint. */
  endpoint?: string
  createdAt: string
}

/** Output of org.p2pds.plc.getLog. */
export interface OrgP2pdsPlcGetLogOutput {
  did: string
  /** The audit log exactly as the directory served it, oldest first. */
  log: Array<OrgP2pdsPlcGetLogEntry>
  /** When this node fetched it. */
  fetchedAt: string
}

/** One entry of plc.directory's /<did>/log/audit. */
export interface OrgP2pdsPlcGetLogEntry {
  did: string
  /** The signed operation: plc_operation, plc_tombstone, or a legacy create. */
  operation: unknown
  /** CID of the operation's DAG-CBOR. */
  cid: string
  nullified: boolean
  createdAt: string
}

/** Blanket consent to being archived one-way by any P2PDS node. Deleting it withdraws consent. */
export interface OrgP2pdsReplicationConsent {
  $type: 'org.p2pds.replication.consent'
  createdAt: string
  /** Free text shown to archivists. */
  note?: string
}

/** Input of org.p2pds.replication.notifyOffer. */
export interface OrgP2pdsReplicationNotifyOfferInput {
  /** The account that published the offer. */
  offerer: string
  /** The account offered replication (held by the receiving node). */
  subject: string
  /** at://offerer/org.p2pds.replication.offer/rkey */
  uri: string
}

/** Output of org.p2pds.replication.notifyOffer. */
export interface OrgP2pdsReplicationNotifyOfferOutput {
  /** stored: kept as an incoming offer; accepted: accepted automatically (trusted offerer); agreement: the receiver had already offered back. */
  status: 'stored' | 'accepted' | 'agreement' | (string & {})
}

/** Record key: the subject DID with ':' replaced by '-' (a TID when that is not a valid record key). The subject field is authoritative. */
export interface OrgP2pdsReplicationOffer {
  $type: 'org.p2pds.replication.offer'
  /** The account offered replication. */
  subject: string
  createdAt: string
  /** Copies of the offerer's data it would like to exist. */
  minCopies?: number
  /** Longest wanted time between two syncs, in seconds. */
  intervalSec?: number
  /** Days of history to keep; 0 keeps only the head. */
  retentionDays?: number
}

/** Every record type, by NSID. */
export interface LexiconRecords {
  'org.p2pds.peer': OrgP2pdsPeer
  'org.p2pds.replication.consent': OrgP2pdsReplicationConsent
  'org.p2pds.replication.offer': OrgP2pdsReplicationOffer
}

/** The JSON input of every procedure, by NSID. */
export interface LexiconProcedureInputs {
  'org.p2pds.replication.notifyOffer': OrgP2pdsReplicationNotifyOfferInput
}

/** The JSON output of every method that has one, by NSID. */
export interface LexiconMethodOutputs {
  'org.p2pds.challenge.describe': OrgP2pdsChallengeDescribeOutput
  'org.p2pds.lexicon.list': OrgP2pdsLexiconListOutput
  'org.p2pds.lexicon.search': OrgP2pdsLexiconSearchOutput
  'org.p2pds.lexicon.stats': OrgP2pdsLexiconStatsOutput
  'org.p2pds.plc.getLog': OrgP2pdsPlcGetLogOutput
  'org.p2pds.replication.notifyOffer': OrgP2pdsReplicationNotifyOfferOutput
}
